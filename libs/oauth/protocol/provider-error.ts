/**
 * What a provider said, classified (PROVIDERS.md): `terminal` means the user must reconnect
 * (only these may set `needs_reauth`); `transient` means try again later and keep the token;
 * `blocked` means the outbound policy refused the address (an operator matter, never the user's).
 * The message carries the sanitized code only, never the provider's description (it can echo input).
 */
export type ProviderErrorClass = 'terminal' | 'transient' | 'blocked';

export class ProviderError extends Error {
  constructor(
    readonly errorClass: ProviderErrorClass,
    /** A short identifier: the provider's `error` code when it is one, else ours. */
    readonly code: string,
    readonly status: number | null = null,
    readonly retryAfterSeconds?: number,
  ) {
    super(`provider error ${code} (${errorClass})`);
    this.name = 'ProviderError';
  }
}

/** RFC 6749 §5.2 codes that no retry will fix. */
export const TERMINAL_ERRORS = ['invalid_grant', 'invalid_client', 'unauthorized_client'];

/**
 * Every `error` value a provider may send that the vault keeps as it is. Sources: RFC 6749
 * §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 8628 §3.5, RFC 8707 §2, RFC 9449 §7.1,
 * OpenID Connect Core §3.1.2.6 and CIBA §13. Provider-specific codes come from the catalog entry.
 */
export const STANDARD_PROVIDER_ERRORS: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'invalid_token',
  'insufficient_scope',
  'unsupported_token_type',
  'authorization_pending',
  'slow_down',
  'expired_token',
  'invalid_target',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'interaction_required',
  'login_required',
  'account_selection_required',
  'consent_required',
  'invalid_request_uri',
  'invalid_request_object',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
  'transaction_failed',
  'invalid_binding_message',
  'unknown_user_id',
]);

/** What an `error` value outside the closed set becomes. */
export const OTHER_PROVIDER_ERROR = 'other';

/**
 * A provider's `error` value mapped onto a closed set before it is stored, logged, labelled,
 * audited or sent anywhere (issue 14 §3): a standard code, one the catalog entry knows
 * (`known`, its `terminalErrors`), else `other`. A provider that answers
 * `{"error": "<refresh token>"}` must not put the token on /metrics.
 */
export function providerErrorCode(value: unknown, known: readonly string[] = []): string {
  if (typeof value !== 'string') return OTHER_PROVIDER_ERROR;
  return STANDARD_PROVIDER_ERRORS.has(value) || known.includes(value) ? value : OTHER_PROVIDER_ERROR;
}
