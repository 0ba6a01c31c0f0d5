/**
 * Typed errors for what the vault refuses. `code` is the SDK's stable code (the class says the
 * same thing); `vaultCode` is what the vault answered: a problem+json `code` on the release path,
 * an OAuth `error` on the token endpoint. Messages and fields carry only what the vault made
 * public (its `detail`), never a token, key or client secret.
 */
export type VaultErrorCode =
  | 'needs_reauth'
  | 'policy_denied'
  | 'scope_exceeds_policy'
  | 'connection_not_found'
  | 'invalid_token'
  | 'rate_limited'
  | 'unavailable'
  | 'approval_required'
  | 'approval_denied'
  | 'approval_expired'
  | (string & {});

export interface VaultErrorInit {
  status?: number;
  vaultCode?: string;
  detail?: string;
  integration?: string;
  requestId?: string;
  errorId?: string;
  cause?: unknown;
}

export class VaultError extends Error {
  readonly code: VaultErrorCode;
  /** HTTP status of the vault's answer; 0 when there was none (network failure, timeout). */
  readonly status: number;
  declare readonly vaultCode?: string;
  declare readonly detail?: string;
  declare readonly integration?: string;
  /** The vault's `X-Request-Id` for this call, to find it in the vault's logs. */
  declare readonly requestId?: string;
  /** The opaque id of a vault-side 500. */
  declare readonly errorId?: string;

  constructor(code: VaultErrorCode, init: VaultErrorInit = {}) {
    super(init.detail ? `${code}: ${init.detail}` : code, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = init.status ?? 0;
    for (const key of ['vaultCode', 'detail', 'integration', 'requestId', 'errorId'] as const) {
      if (init[key] !== undefined) (this as Record<string, unknown>)[key] = init[key];
    }
  }
}

/** 409: the user's grant at the provider died; hand them `connectUrl` to reconnect. */
export class NeedsReauthError extends VaultError {
  constructor(
    readonly connectUrl: string | undefined,
    init: VaultErrorInit = {},
  ) {
    super('needs_reauth', init);
  }
}

/** The user has no connection for the integration; `connectUrl` when this agent may offer one. */
export class ConnectionNotFoundError extends VaultError {
  constructor(
    readonly connectUrl: string | undefined,
    init: VaultErrorInit = {},
  ) {
    super('connection_not_found', init);
  }
}

/** Policy does not allow this agent the integration for this user (at exchange or at release). */
export class PolicyDeniedError extends VaultError {
  constructor(init: VaultErrorInit = {}) {
    super('policy_denied', init);
  }
}

/** The user token (at exchange) or the vault token (at release) was refused: expired, wrong audience, bad signature. */
export class InvalidTokenError extends VaultError {
  constructor(init: VaultErrorInit = {}) {
    super('invalid_token', init);
  }
}

/**
 * 403: the user's grant is broader than policy allows this agent and the provider cannot issue a
 * narrower token (or the scopes asked for exceed the policy). `excessScopes` names what is over.
 */
export class ScopeExceedsPolicyError extends VaultError {
  constructor(
    readonly excessScopes: string[],
    init: VaultErrorInit = {},
  ) {
    super('scope_exceeds_policy', init);
  }
}

export class RateLimitedError extends VaultError {
  constructor(
    /** Seconds to wait, from `Retry-After`. */
    readonly retryAfter: number | undefined,
    init: VaultErrorInit = {},
  ) {
    super('rate_limited', init);
  }
}

/** The vault (or something it needs) is down, or could not be reached in time. Nothing was released. */
export class VaultUnavailableError extends VaultError {
  constructor(
    readonly retryAfter: number | undefined,
    init: VaultErrorInit = {},
  ) {
    super('unavailable', init);
  }
}

/**
 * 403 at release: policy requires the user's approval for each use (CIBA). Ask with
 * `vault.withApproval(integration, { userToken })` and release with the token it returns.
 */
export class ApprovalRequiredError extends VaultError {
  constructor(
    /** Where to ask (the vault's `/oauth2/bc-authorize`), when the vault said. */
    readonly bcAuthorize: string | undefined,
    init: VaultErrorInit = {},
  ) {
    super('approval_required', init);
  }
}

/** The user denied the approval request (or policy no longer allows what they approved). */
export class ApprovalDeniedError extends VaultError {
  constructor(init: VaultErrorInit = {}) {
    super('approval_denied', init);
  }
}

/** The approval request expired unanswered, or the approval's time ran out: ask again. */
export class ApprovalExpiredError extends VaultError {
  constructor(init: VaultErrorInit = {}) {
    super('approval_expired', init);
  }
}
