/**
 * Stable error codes of the external contract (CONTRACT.md). Domain code throws
 * `DomainError`; one filter at the edge maps it to RFC 9457 problem+json.
 */
export const ErrorCodes = {
  invalid_request: 400,
  validation_failed: 400,
  invalid_token: 401,
  /** RFC 9449: the DPoP proof is missing, invalid, replayed or for another request or key. */
  invalid_dpop_proof: 401,
  not_an_agent_token: 403,
  not_a_user_token: 403,
  scope_missing: 403,
  policy_denied: 403,
  /** The connection's grant exceeds the policy's scope ceiling (or a requested narrower set) and the provider cannot downscope. */
  scope_exceeds_policy: 403,
  /** Policy requires a person's approval (CIBA) and the token carries none from this vault. */
  approval_required: 403,
  forbidden: 403,
  not_found: 404,
  connection_not_found: 404,
  integration_not_found: 404,
  conflict: 409,
  needs_reauth: 409,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  internal_error: 500,
  not_implemented: 501,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface ErrorDetails {
  /** Extra members for the problem document (e.g. `connect_url`, `errors`). Never secrets. */
  extra?: Record<string, unknown>;
  /** Seconds, for 429/503 responses. */
  retryAfter?: number;
}

export class DomainError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    /** Public, human-readable detail. Must not contain secrets or internals. */
    readonly detail: string,
    readonly details: ErrorDetails = {},
  ) {
    super(`${code}: ${detail}`);
    this.name = 'DomainError';
    this.status = ErrorCodes[code];
  }
}

/** Raised when a dependency we cannot do without (database, key provider, audit) is down. */
export class UnavailableError extends DomainError {
  constructor(what: 'database' | 'key provider' | 'audit', retryAfter = 1) {
    super('unavailable', `The ${what} is unavailable; nothing was released or stored.`, { retryAfter });
    this.name = 'UnavailableError';
  }
}
