import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { ConnectionStore, IntegrationStore } from '../connections';
import { DomainError } from '../kernel';
import { ConnectSession, ConnectSessionStore } from './connect-session.store';

/** The consent page's other buttons: Cancel, and the API-key paste form. */
@Injectable()
export class ConsentActions {
  constructor(
    private readonly sessions: ConnectSessionStore,
    private readonly integrations: IntegrationStore,
    private readonly connections: ConnectionStore,
    private readonly audit: AuditLog,
  ) {}

  async cancel(s: ConnectSession): Promise<void> {
    await this.sessions.finish(s.id, 'cancelled', 'cancelled');
    await this.audit.record({
      tenant: s.tenant,
      action: 'connection.connect',
      outcome: 'denied',
      reason: 'cancelled',
      subject: s.subject,
      integration: s.integration,
      details: { session: s.id },
    });
  }

  /** The user pastes an API key: stored like the admin API stores one (sealed, version + 1 on replace). */
  async pasteApiKey(s: ConnectSession, apiKey: string): Promise<void> {
    if (s.status === 'completed' || s.status === 'cancelled')
      throw new DomainError('invalid_request', 'This connect session has ended. Ask the app for a new link.');
    const integration = await this.integrations.get(s.tenant, s.integration);
    if (!integration || integration.kind !== 'api_key')
      throw new DomainError('invalid_request', 'This integration does not take an API key.');
    if (apiKey.length < 1 || apiKey.length > 8192) {
      throw new DomainError('validation_failed', 'The API key must be between 1 and 8192 characters.', {
        extra: { errors: [{ field: 'api_key', message: 'must be 1 to 8192 characters' }] },
      });
    }
    const key = Buffer.from(apiKey, 'utf8');
    try {
      const r = await this.connections.putApiKey(s.tenant, s.integration, s.subject, key);
      await this.sessions.finish(s.id, 'completed');
      await this.audit.record({
        tenant: s.tenant,
        action: 'connection.connect',
        outcome: 'allowed',
        subject: s.subject,
        integration: s.integration,
        details: { session: s.id, connection: r.connection.id, version: r.connection.version, reconnected: !r.created },
      });
    } finally {
      key.fill(0);
    }
  }
}
