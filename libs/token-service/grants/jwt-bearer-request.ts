import { OAuthError } from '../oauth-error';
import { ExchangeRequest, JWT_BEARER_GRANT, noRepeats, scopesOf, single, targetsOf, TOKEN_TYPES, ttlOf } from '../exchange-request';

/** The jwt-bearer grants (issue 18) are audited like `token.exchange` under this action, with `details.grant`. */
export const TOKEN_ISSUE_ACTION = 'token.issue';

/** Microsoft's on-behalf-of request (`requested_token_use=on_behalf_of`), as MSAL's acquireTokenOnBehalfOf sends it. */
export const ON_BEHALF_OF = 'on_behalf_of';

/**
 * A parsed `urn:ietf:params:oauth:grant-type:jwt-bearer` request (RFC 7523 §2.1):
 * - `agent`: `assertion` is the agent's own federated token; the vault token is for the agent itself;
 * - `on_behalf_of`: `assertion` is a user's token; the request is a token exchange with it as subject token.
 */
export type JwtBearerRequest =
  | { kind: 'agent'; assertion: string; requestedScopes: string[]; requestedTtlSeconds?: number }
  | { kind: 'on_behalf_of'; exchange: ExchangeRequest };

type Form = Record<string, unknown>;

export function isJwtBearerGrant(form: Form): boolean {
  return form.grant_type === JWT_BEARER_GRANT;
}

/** Checks the parameters; client authentication is read as for token exchange. Other parameters (MSAL's `client_info`) are ignored. */
export function parseJwtBearerRequest(form: Form, vaultTargets: readonly string[]): JwtBearerRequest {
  noRepeats(form);
  const assertion = single(form, 'assertion');
  if (!assertion) throw new OAuthError('invalid_request', 'assertion is required');
  const use = single(form, 'requested_token_use');
  if (use !== undefined && use !== ON_BEHALF_OF) throw new OAuthError('invalid_request', `requested_token_use must be ${ON_BEHALF_OF}`);
  const targets = targetsOf(form, vaultTargets);
  const requestedScopes = scopesOf(single(form, 'scope'));
  const ttl = ttlOf(single(form, 'expires_in'));
  if (use === undefined) return { kind: 'agent', assertion, requestedScopes, ...ttl };
  return {
    kind: 'on_behalf_of',
    exchange: { subjectToken: assertion, subjectTokenType: TOKEN_TYPES.jwt, targets, requestedScopes, ...ttl },
  };
}
