/** Error codes of the token endpoint (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 8707 §2) plus two of our own. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  /** RFC 7009 §2.2.1: the token is not one this server can revoke (another issuer's). */
  | 'unsupported_token_type'
  /** RFC 9449 §5: the DPoP proof is missing (for a DPoP-bound client), invalid or replayed. */
  | 'invalid_dpop_proof'
  /** 429: the per-client/IP budget is spent (not in RFC 6749; `Retry-After` says when to come back). */
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'server_error'
  /** CIBA Core 1.0 §13 (bc-authorize) and §11 (the token endpoint, polling). */
  | 'invalid_binding_message'
  | 'authorization_pending'
  | 'slow_down'
  | 'access_denied'
  | 'expired_token';

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  unsupported_token_type: 400,
  invalid_dpop_proof: 400,
  rate_limited: 429,
  temporarily_unavailable: 503,
  server_error: 500,
  invalid_binding_message: 400,
  authorization_pending: 400,
  slow_down: 400,
  access_denied: 400,
  expired_token: 400,
};

/**
 * A refusal of the token endpoint, answered as `{ error, error_description }` (RFC 6749 §5.2),
 * not as problem+json. `description` is public: it never carries a token, secret or claim value.
 */
export class OAuthError extends Error {
  readonly status: number;
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly extra: { retryAfter?: number } = {},
  ) {
    super(`${error}: ${description}`);
    this.name = 'OAuthError';
    this.status = STATUS[error];
  }
}
