/** A released OAuth access token (CONTRACT.md "Release"). */
export interface OAuthRelease {
  integration: string;
  type: 'oauth2';
  access_token: string;
  token_type: 'Bearer';
  /** ISO 8601; null when the provider did not say. */
  expires_at: string | null;
  scopes: string[];
  /** Provider extras, e.g. Salesforce's `instance_url`. */
  metadata: Record<string, unknown>;
}

/** A released API key (CONTRACT.md "Release"). */
export interface ApiKeyRelease {
  integration: string;
  type: 'api_key';
  api_key: string;
}

export type Release = OAuthRelease | ApiKeyRelease;

/** A vault token from the token service (RFC 8693): the user is its subject, this agent its actor. */
export interface VaultToken {
  accessToken: string;
  /** `DPoP`: bound to this client's DPoP key (the SDK sends proofs with it). */
  tokenType: 'Bearer' | 'DPoP';
  expiresAt: Date;
  /** The scopes policy granted; refused ones are simply absent. */
  scopes: string[];
}

/**
 * Who a release is for: the user's own token (exchanged here), a vault token the caller already
 * has, or the agent itself (`asAgent`: a tenant-level connection, with `federatedAssertion`).
 */
export type ReleaseAuth =
  | { userToken: string; vaultToken?: never; asAgent?: never }
  | { vaultToken: string; userToken?: never; asAgent?: never }
  | { asAgent: true; userToken?: never; vaultToken?: never };

export interface ReleaseOptions {
  /** Provider scopes to downscope to (must be a subset of what was granted). */
  scopes?: string[];
}

export interface ExchangeOptions {
  /** Scopes to ask for, e.g. `connections:openai`. Default: none (policy decides nothing; the vault refuses). */
  scopes?: string[];
  /** Shorthand for `scopes: integrations.map(i => "connections:" + i)`. */
  integrations?: string[];
  /** RFC 8707 `resource`: must name the vault if given. */
  resource?: string;
  /** Requested lifetime in seconds; the vault may grant less. */
  expiresIn?: number;
}

/** `withApproval`: what the user is asked, and how long to wait. */
export interface ApprovalOptions {
  /** The user's own token: it names the user to ask (sent as `login_hint_token`). */
  userToken: string;
  /** Shown to the user (≤ 64 characters, one line), e.g. an order number the app also shows. */
  bindingMessage?: string;
  /** RFC 9396 objects (each with a `type`), shown to the user field by field. */
  authorizationDetails?: Array<{ type: string } & Record<string, unknown>>;
  /** Seconds to wait for the answer at most (the policy's approval TTL caps it). */
  requestedExpiry?: number;
  /** Called once the vault has asked the user. */
  onRequested?: (r: { expiresIn: number; interval: number }) => void | Promise<void>;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** A vault token from an approval: release with it as `{ vaultToken: token.accessToken }`. */
export interface ApprovedToken extends VaultToken {
  /** The approval's id (the token's `approval` claim), as the vault's audit names it. */
  approvalId: string | undefined;
}
