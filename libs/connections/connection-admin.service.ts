import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { AdminActor, DomainError } from '../kernel';
import { ConnectionStatus, ConnectionStore, ConnectionSummary, TENANT_LEVEL } from './connection.store';
import { IntegrationStore } from './integration.store';

/** Where an admin-set API key goes: a user's connection, or (no `user`) the tenant's own. */
export interface ApiKeyTarget {
  integration: string;
  user?: string;
}

const MAX_LIST = 1000;
const DEFAULT_LIST = 500;

/**
 * The admin use cases on connections that are not a user's own flow: setting (or rotating) an
 * API key, and listing. Disconnecting goes through DisconnectService (libs/connect): it revokes
 * at the provider first.
 */
@Injectable()
export class ConnectionAdminService {
  constructor(
    private readonly connections: ConnectionStore,
    private readonly integrations: IntegrationStore,
    private readonly audit: AuditLog,
  ) {}

  /** Stores the key (sealed by the store). A replaced key is a rotation: the previous value lives on for the grace period. */
  async putApiKey(actor: AdminActor, target: ApiKeyTarget, apiKey: string): Promise<{ created: boolean; connection: ConnectionSummary }> {
    const { tenant } = actor;
    const { integration } = target;
    const level = target.user === undefined ? 'tenant' : 'user';
    const subject = target.user ?? TENANT_LEVEL;
    const i = await this.integrations.get(tenant, integration);
    if (!i) throw new DomainError('integration_not_found', `no integration named "${integration}"`);
    if (i.kind !== 'api_key')
      throw new DomainError('conflict', `integration "${integration}" is OAuth; users connect it through a connect session`);
    if (i.level !== level) throw new DomainError('conflict', `integration "${integration}" is ${i.level}-level`);
    const key = Buffer.from(apiKey, 'utf8');
    try {
      // Audited before the write, so that with the audit log down nothing is stored (fail closed).
      const existing = await this.connections.find(tenant, integration, subject);
      await this.audit.record(
        existing
          ? {
              tenant,
              action: 'key.rotate',
              outcome: 'allowed',
              subject: subject || undefined,
              integration,
              details: { target: 'api_key', connection: existing.id, from_version: existing.version, by: actor.subject },
            }
          : {
              tenant,
              action: 'connection.connect',
              outcome: 'allowed',
              subject: subject || undefined,
              integration,
              details: { method: 'admin_api_key', by: actor.subject },
            },
      );
      return await this.connections.putApiKey(tenant, integration, subject, key);
    } finally {
      key.fill(0);
    }
  }

  /** Ordered by integration and user; `limit` defaults to 500 and is capped at 1000. */
  list(
    actor: AdminActor,
    filter: { user?: string; integration?: string; status?: ConnectionStatus; limit?: number },
  ): Promise<ConnectionSummary[]> {
    return this.connections.list(actor.tenant, { ...filter, limit: Math.min(filter.limit ?? DEFAULT_LIST, MAX_LIST) });
  }
}
