import type { ConnectionEvent, ConnectionEventType } from '../connections';

/** Every event type an endpoint can subscribe to (`*` = all of them). */
export const CONNECTION_EVENT_TYPES: readonly ConnectionEventType[] = [
  'connection.created',
  'connection.refresh_failed',
  'connection.needs_reauth',
  'connection.recovered',
  'connection.deleted',
];

/**
 * A person is asked to approve an agent's use of a credential (CIBA, libs/approvals): the data carries
 * the approval page's URL, for apps that relay it (chat, mobile). Tenant events, like connection events.
 */
export const APPROVAL_REQUESTED_EVENT = 'approval.requested';
export const APPROVAL_EVENT_TYPES: readonly string[] = [APPROVAL_REQUESTED_EVENT];

/** Sent by `POST /v1/admin/webhooks/test`; delivered whatever the endpoint's filter. */
export const TEST_EVENT = 'webhook.test';

/**
 * Vault-wide, not a tenant's: each signed audit anchor. Sent to every enabled endpoint that names it
 * explicitly (never through "*"), and only an operator (`vault:operator`) may name it.
 */
export const AUDIT_ANCHOR_EVENT = 'audit.anchor';

export type WebhookEventType = ConnectionEventType | typeof APPROVAL_REQUESTED_EVENT | typeof TEST_EVENT | typeof AUDIT_ANCHOR_EVENT;

/** What goes into the outbox: a connection event, or the test event. */
export interface WebhookEvent extends Omit<ConnectionEvent, 'type'> {
  type: WebhookEventType;
}

/** Key fragments that name a secret (as for audit records): such a key never enters the outbox. */
const SECRET_KEY = /token|secret|password|passwd|passphrase|api_?key|private_?key|authorization|cookie|assertion|verifier|credential/i;
const KEY = /^[a-z][a-z0-9_]{0,39}$/;
const MAX_STRING = 512;

/**
 * Checks an event's data before it is stored: a flat object of identifiers and states (strings up to
 * 512 characters, numbers, booleans, null), no key that names a secret. A violation is a programming
 * error: it throws, and the caller's transaction rolls back with it.
 */
export function checkEventData(data: Record<string, unknown>): Record<string, string | number | boolean | null> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new TypeError('webhook event data must be an object');
  const out: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(data)) {
    if (!KEY.test(k) || SECRET_KEY.test(k))
      throw new TypeError(`webhook event data: key "${KEY.test(k) ? k : '(invalid)'}" is not allowed`);
    if (v === undefined) continue;
    const ok =
      v === null ||
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v)) ||
      (typeof v === 'string' && v.length <= MAX_STRING);
    if (!ok) throw new TypeError(`webhook event data: ${k} must be a short string, number, boolean or null`);
    out[k] = v as string | number | boolean | null;
  }
  return out;
}

export function isEventType(t: string): t is WebhookEventType {
  return (
    t === TEST_EVENT ||
    t === AUDIT_ANCHOR_EVENT ||
    (CONNECTION_EVENT_TYPES as readonly string[]).includes(t) ||
    APPROVAL_EVENT_TYPES.includes(t)
  );
}
