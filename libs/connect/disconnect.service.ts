import { Injectable, Logger } from '@nestjs/common';
import { AuditLog } from '../audit';
import { ConnectionStore, IntegrationStore, OAuthAppCredentialReader, OAuthCredentialStore } from '../connections';
import { TenantId } from '../kernel';
import { OAuthClient, ProviderCatalog, RevocationOutcome } from '../oauth';

export type DisconnectResult = { disconnected: false } | { disconnected: true; revocation: RevocationOutcome | 'not_applicable' };

/**
 * Disconnect: revoke the grant at the provider where the entry has an endpoint (RFC 7009 or the
 * entry's variant), then destroy the row and with it the only copy of its wrapped DEK. A failed
 * revocation does not keep the credential: the user asked for it to go. Audited either way.
 */
@Injectable()
export class DisconnectService {
  private readonly log = new Logger('disconnect');

  constructor(
    private readonly connections: ConnectionStore,
    private readonly oauthStore: OAuthCredentialStore,
    private readonly integrations: IntegrationStore,
    private readonly apps: OAuthAppCredentialReader,
    private readonly catalog: ProviderCatalog,
    private readonly oauth: OAuthClient,
    private readonly audit: AuditLog,
  ) {}

  async disconnect(tenant: TenantId, integration: string, subject: string, by: string): Promise<DisconnectResult> {
    const c = await this.connections.find(tenant, integration, subject);
    if (!c) return { disconnected: false };
    const revocation = c.kind === 'oauth2' ? await this.revoke(tenant, integration, c.id) : 'not_applicable';
    if (!(await this.connections.delete(tenant, integration, subject))) return { disconnected: false };
    await this.audit.record({
      tenant,
      action: 'connection.disconnect',
      outcome: 'allowed',
      subject: subject || undefined,
      integration,
      details: { connection: c.id, version: c.version, revocation, by },
    });
    return { disconnected: true, revocation };
  }

  private async revoke(tenant: TenantId, integration: string, id: string): Promise<RevocationOutcome> {
    try {
      const i = await this.integrations.get(tenant, integration);
      const app = await this.apps.read(tenant, integration);
      const row = await this.oauthStore.load(tenant, id);
      if (!i || !app || !row) return 'failed';
      const provider = this.catalog.resolve(i.provider, i.config, app.clientId);
      if (!provider.entry.revocation || !provider.revocationUrl) return 'not_supported';
      return await this.oauth.revoke(provider, app, await this.oauthStore.openTokens(row, 'connection.disconnect'));
    } catch (err) {
      this.log.warn(`revocation skipped for ${integration} (${err instanceof Error ? err.name : 'error'})`);
      return 'failed';
    }
  }
}
