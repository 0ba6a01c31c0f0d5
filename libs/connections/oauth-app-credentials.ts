import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { SealedFields } from '../crypto';
import { Secret, TenantId } from '../kernel';
import { integrationRef, IntegrationRow } from './integration.store';

/** An integration's OAuth client: its id, and its secret opened for one provider call. */
export interface OAuthAppCredentials {
  clientId: string;
  clientSecret: Secret | null;
}

/**
 * Opens an integration's sealed client secret for the token endpoint. The only reader of
 * `client_secret_ct`: the admin API never returns it (IntegrationStore writes it only).
 */
@Injectable()
export class OAuthAppCredentialReader {
  constructor(
    private readonly ds: DataSource,
    private readonly sealed: SealedFields,
    private readonly audit: AuditLog,
  ) {}

  /**
   * The client id, and the secret opened under the integration's name as stored. An OAuth
   * integration without a sealed secret (NULL) fails like a tampered one: alarmed, audited as
   * `decrypt_failed` under `action`, `KeyUnwrapError`.
   */
  async read(tenant: TenantId, integration: string, action = 'integration.client_secret'): Promise<OAuthAppCredentials | undefined> {
    const rows: Array<
      Pick<IntegrationRow, 'id' | 'name' | 'provider' | 'dek_wrapped' | 'client_secret_ct'> & { client_id: string | null }
    > = await this.ds.query(
      `SELECT id, name, provider, config->>'client_id' AS client_id, dek_wrapped, client_secret_ct FROM integrations WHERE tenant = $1 AND name = $2`,
      [tenant, integration],
    );
    const r = rows[0];
    if (!r || typeof r.client_id !== 'string') return undefined;
    const alarm = { audit: this.audit, action, integration: r.name, details: { integration_id: r.id } };
    const b = await this.sealed.open(
      integrationRef(tenant, r.id, r.name),
      { dekWrapped: r.dek_wrapped, ct: r.client_secret_ct },
      'client_secret',
      alarm,
    );
    try {
      return { clientId: r.client_id, clientSecret: Secret.of(b.toString('utf8')) };
    } finally {
      b.fill(0);
    }
  }
}
