import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { DomainError, Secret, TenantId } from '../kernel';
import { OutboundError } from '../oauth';
import { WebhookEndpoint, WebhookEndpointStore } from './webhook-endpoint.store';
import { APPROVAL_EVENT_TYPES, AUDIT_ANCHOR_EVENT, CONNECTION_EVENT_TYPES, TEST_EVENT } from './webhook-events';
import { WebhookOutbox } from './webhook-outbox';
import { WebhookHttpClient } from './webhook-sender';

/** Who asks: an admin of `tenant`; `subject` goes into the audit record. */
export interface WebhookActor {
  tenant: TenantId;
  subject: string;
  /** An operator (`vault:operator`) may also subscribe to the vault-wide `audit.anchor`. */
  operator?: boolean;
}

const MAX_URL = 2048;

function invalid(field: 'url' | 'events', message: string): DomainError {
  return new DomainError('validation_failed', `Invalid request: ${field}`, { extra: { errors: [{ field, message }] } });
}

/**
 * The tenant's endpoint, managed by its admins: every change audited (the URL's host only: a URL
 * may carry a token in its path or query). A URL must pass the outbound policy when it is set (the
 * dispatcher checks it again on every delivery: DNS can change).
 */
@Injectable()
export class WebhookAdminService {
  constructor(
    private readonly ds: DataSource,
    private readonly endpoints: WebhookEndpointStore,
    private readonly outbox: WebhookOutbox,
    private readonly http: WebhookHttpClient,
    private readonly audit: AuditLog,
  ) {}

  async put(
    actor: WebhookActor,
    input: { url: string; events: string[] },
  ): Promise<{ endpoint: WebhookEndpoint; secret: Secret; created: boolean }> {
    const events = [...new Set(input.events)];
    const unknown = events.filter(
      (e) =>
        e !== '*' &&
        e !== AUDIT_ANCHOR_EVENT &&
        !(CONNECTION_EVENT_TYPES as readonly string[]).includes(e) &&
        !APPROVAL_EVENT_TYPES.includes(e),
    );
    if (unknown.length)
      throw invalid(
        'events',
        `must be "*" or among ${[...CONNECTION_EVENT_TYPES, ...APPROVAL_EVENT_TYPES].join(', ')}, ${AUDIT_ANCHOR_EVENT}`,
      );
    if (events.includes(AUDIT_ANCHOR_EVENT) && !actor.operator)
      throw invalid('events', `${AUDIT_ANCHOR_EVENT} is vault-wide: only an operator (vault:operator) may subscribe to it`);
    const host = await this.checkUrl(input.url);
    const r = await this.endpoints.put(actor.tenant, { url: input.url, events });
    await this.audit.record({
      tenant: actor.tenant,
      action: 'webhook.configure',
      outcome: 'allowed',
      details: { host, events, created: r.created, by: actor.subject },
    });
    return r;
  }

  async get(actor: WebhookActor): Promise<WebhookEndpoint> {
    const e = await this.endpoints.get(actor.tenant);
    if (!e) throw new DomainError('not_found', 'no webhook endpoint is configured');
    return e;
  }

  async remove(actor: WebhookActor): Promise<void> {
    if (!(await this.endpoints.delete(actor.tenant))) throw new DomainError('not_found', 'no webhook endpoint is configured');
    await this.audit.record({ tenant: actor.tenant, action: 'webhook.delete', outcome: 'allowed', details: { by: actor.subject } });
  }

  /** Enqueues a `webhook.test` event; resolves with its id (the `webhook-id` the endpoint will see). */
  async test(actor: WebhookActor): Promise<{ id: string }> {
    const r = await this.outbox.enqueue(this.ds, { tenant: actor.tenant, type: TEST_EVENT, data: { requested_by: actor.subject } });
    if (!r.enqueued) throw new DomainError('not_found', 'no enabled webhook endpoint is configured');
    await this.audit.record({
      tenant: actor.tenant,
      action: 'webhook.test',
      outcome: 'allowed',
      details: { event: r.id, by: actor.subject },
    });
    return { id: r.id };
  }

  /** Scheme, form and every resolved address, as a delivery would check them; messages never echo the URL. */
  private async checkUrl(url: string): Promise<string> {
    if (url.length > MAX_URL) throw invalid('url', `must be at most ${MAX_URL} characters`);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw invalid('url', 'must be an absolute https URL');
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw invalid('url', 'must be an absolute https URL');
    if (u.hash) throw invalid('url', 'must not have a fragment');
    try {
      await this.http.preflight(url);
    } catch (err) {
      if (!(err instanceof OutboundError)) throw err;
      if (err.kind === 'invalid_url') throw invalid('url', 'must be an absolute https URL without user info');
      if (err.kind === 'network') throw invalid('url', 'its host does not resolve');
      throw invalid(
        'url',
        'must be https and must not reach a private, loopback, link-local or reserved address (unless allowlisted in OUTBOUND_ALLOW_HOSTS)',
      );
    }
    return u.hostname;
  }
}
