/**
 * @credential-vault/sdk — an agent's client for Credential Vault: exchange a user's token for a
 * vault token (RFC 8693), release the user's credential for an integration, typed refusals.
 * Published on its own: nothing here imports the rest of the repository.
 */
export { VaultClient } from './vault-client';
export type { VaultClientOptions } from './vault-client';
export type { ClientAuthMethod, AssertionAlgorithm } from './client-auth';
export type {
  ApprovalOptions,
  ApprovedToken,
  ApiKeyRelease,
  ExchangeOptions,
  OAuthRelease,
  Release,
  ReleaseAuth,
  ReleaseOptions,
  VaultToken,
} from './types';
export {
  ApprovalDeniedError,
  ApprovalExpiredError,
  ApprovalRequiredError,
  ConnectionNotFoundError,
  InvalidTokenError,
  NeedsReauthError,
  PolicyDeniedError,
  RateLimitedError,
  ScopeExceedsPolicyError,
  VaultError,
  VaultUnavailableError,
} from './errors';
export type { VaultErrorCode } from './errors';
