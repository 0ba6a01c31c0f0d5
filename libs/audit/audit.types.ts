/** Outcomes an audit event can record. */
export const AUDIT_OUTCOMES = ['allowed', 'denied', 'error'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * One decision to audit. Identifiers only: a `Secret` inside `details` is stored as
 * "[REDACTED]", and keys that name secrets (token, secret, password, api_key, …) are refused.
 */
export interface AuditEventInput {
  tenant: string;
  /** Dotted lower-case verb, e.g. `credential.release`. */
  action: string;
  outcome: AuditOutcome;
  /** The error code for denials and errors (e.g. `policy_denied`). */
  reason?: string;
  agent?: string;
  /** The user the decision was about. */
  subject?: string;
  integration?: string;
  details?: Record<string, unknown>;
}

/** What `AuditLog.record` resolves with once the event is committed. */
export interface AuditReceipt {
  id: string;
  /** Position in the global chain (a bigint, as a decimal string). */
  seq: string;
}

/** Where the audit MAC key comes from. The app binds it to the keyring. */
export interface AuditMacKeySource {
  /** The HMAC-SHA256 key of the chain; at least 32 bytes. Called once per flush: cache inside. */
  macKey(): Promise<Buffer>;
}

/** Injection token for the `AuditMacKeySource`. */
export const AUDIT_MAC_KEY = Symbol('AUDIT_MAC_KEY');

/** Filters of `GET /v1/admin/audit`, as they arrive from a query string (validated by `AuditLog.list`). */
export interface AuditListQuery {
  action?: string;
  outcome?: string;
  agent?: string;
  user?: string;
  integration?: string;
  /** An approval's id: the events of that approval (request, answer, token, releases). */
  approval?: string;
  /** ISO 8601 date-time, inclusive. */
  since?: string;
  /** ISO 8601 date-time, exclusive. */
  until?: string;
  /** Opaque, from a previous page's `next`. */
  cursor?: string;
  /** 1..200, default 50. */
  limit?: string | number;
}

/** One event as the admin API shows it. */
export interface AuditEventView {
  id: string;
  at: string;
  action: string;
  outcome: AuditOutcome;
  reason: string | null;
  agent: string | null;
  user: string | null;
  integration: string | null;
  details: Record<string, unknown>;
}

export interface AuditPage {
  events: AuditEventView[];
  /** Present when there are older events. */
  next?: string;
}

/** Counters of the group-commit flusher (for /metrics and tests). */
export interface AuditLogStats {
  /** Committed flush transactions. */
  flushes: number;
  /** Events committed by those flushes. */
  committedEvents: number;
  /** Flushes that failed or were abandoned by the watchdog. */
  failedFlushes: number;
  /** `record` calls rejected because their deadline passed. */
  timeouts: number;
  /** Events waiting for a flush right now. */
  queued: number;
}

/**
 * A programming error: the caller built an event the log must not store (a secret-like
 * key, a value that is not JSON). Never a `DomainError`: the edge maps it to a 500.
 * Messages name the field, never its value.
 */
export class AuditInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditInputError';
  }
}

/** Tenant under which refusals that cannot be attributed to a tenant (unverifiable tokens) are recorded. */
export const UNATTRIBUTED_TENANT = '_unauthenticated';
