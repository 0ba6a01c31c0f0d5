import {
  ApprovalRequiredError,
  ConnectionNotFoundError,
  InvalidTokenError,
  NeedsReauthError,
  PolicyDeniedError,
  RateLimitedError,
  ScopeExceedsPolicyError,
  VaultError,
  VaultErrorInit,
  VaultUnavailableError,
} from './errors';

/** What came back from the vault, already read: status, headers and the body parsed as JSON if it was. */
export interface VaultAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * A release-path refusal (RFC 9457 problem+json with a stable `code`) as a typed error.
 * Without a usable `code` (a proxy's HTML page, say) the status decides.
 */
export function releaseError(answer: VaultAnswer, integration: string): VaultError {
  const body = asObject(answer.body);
  const vaultCode = typeof body.code === 'string' ? body.code : undefined;
  const init = initOf(answer, integration, vaultCode, body.detail);
  const connectUrl = typeof body.connect_url === 'string' ? body.connect_url : undefined;
  switch (vaultCode ?? codeForStatus(answer.status)) {
    case 'needs_reauth':
      return new NeedsReauthError(connectUrl, init);
    case 'connection_not_found':
      return new ConnectionNotFoundError(connectUrl, init);
    case 'policy_denied':
      return new PolicyDeniedError(init);
    case 'approval_required':
      return new ApprovalRequiredError(typeof body.bc_authorize === 'string' ? body.bc_authorize : undefined, init);
    case 'scope_exceeds_policy':
      return new ScopeExceedsPolicyError(
        Array.isArray(body.excess_scopes) ? body.excess_scopes.filter((s): s is string => typeof s === 'string') : [],
        init,
      );
    case 'invalid_token':
      return new InvalidTokenError(init);
    case 'rate_limited':
      return new RateLimitedError(retryAfterOf(answer.headers), init);
    case 'unavailable':
      return new VaultUnavailableError(retryAfterOf(answer.headers), init);
    default:
      return new VaultError(vaultCode ?? codeForStatus(answer.status), init);
  }
}

/**
 * A token-endpoint refusal (RFC 6749 §5.2 `{error, error_description}`) as a typed error.
 * `invalid_scope` means policy granted none of the requested scopes; an invalid subject token is
 * `invalid_request` there (RFC 8693 §2.2.2), told apart by its description.
 */
export function exchangeError(answer: VaultAnswer): VaultError {
  const body = asObject(answer.body);
  const vaultCode = typeof body.error === 'string' ? body.error : undefined;
  const description = typeof body.error_description === 'string' ? body.error_description : undefined;
  const init = initOf(answer, undefined, vaultCode, description);
  switch (vaultCode) {
    case 'invalid_scope':
      return new PolicyDeniedError(init);
    case 'invalid_grant':
      return new InvalidTokenError(init);
    case 'invalid_request':
      return /^(subject|actor)_token is invalid/.test(description ?? '') ? new InvalidTokenError(init) : new VaultError(vaultCode, init);
    case 'rate_limited':
      return new RateLimitedError(retryAfterOf(answer.headers), init);
    case 'temporarily_unavailable':
      return new VaultUnavailableError(retryAfterOf(answer.headers), init);
    case undefined:
      return releaseError(answer, '');
    default:
      return new VaultError(vaultCode, init);
  }
}

function initOf(answer: VaultAnswer, integration: string | undefined, vaultCode: string | undefined, detail: unknown): VaultErrorInit {
  const body = asObject(answer.body);
  return {
    status: answer.status,
    vaultCode,
    detail: typeof detail === 'string' ? detail.slice(0, 500) : undefined,
    integration: integration || undefined,
    requestId: answer.headers.get('x-request-id') ?? undefined,
    errorId: typeof body.error_id === 'string' ? body.error_id : undefined,
  };
}

function codeForStatus(status: number): string {
  if (status === 401) return 'invalid_token';
  if (status === 429) return 'rate_limited';
  if (status === 502 || status === 503 || status === 504) return 'unavailable';
  if (status >= 500) return 'internal_error';
  return `http_${status}`;
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterOf(headers: Headers, now = Date.now()): number | undefined {
  const raw = headers.get('retry-after')?.trim();
  if (!raw) return undefined;
  if (/^\d+$/.test(raw)) return Number(raw);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
