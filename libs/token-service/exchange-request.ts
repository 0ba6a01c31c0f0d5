import { Secret } from '../kernel';
import { OAuthError } from './oauth-error';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 7523 §2.1 (grants/jwt-bearer-request.ts). */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const TOKEN_TYPES = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const;

/** Token types a subject or actor token may be declared as: all of them are JWTs we verify. */
const INPUT_TOKEN_TYPES: readonly string[] = Object.values(TOKEN_TYPES);
/** What we issue: an access token that is a JWT, so either name is acceptable to ask for. */
const OUTPUT_TOKEN_TYPES: readonly string[] = [TOKEN_TYPES.accessToken, TOKEN_TYPES.jwt];

/** The scope prefix the release path looks for. */
export const CONNECTIONS_SCOPE_PREFIX = 'connections:';
/** As the admin API names integrations (apps/vault/http/names.ts). */
const INTEGRATION_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;
const MAX_SCOPES = 50;
const MAX_TARGETS = 10;
const MAX_PARAM = 16 * 1024;
const MAX_SECRET = 512;
/** Parameters RFC 8693 lets a client repeat; every other one must appear at most once. */
const MULTI_VALUED = new Set(['resource', 'audience']);

/** A parsed token-exchange request (client authentication aside). */
export interface ExchangeRequest {
  subjectToken: string;
  subjectTokenType: string;
  actorToken?: string;
  actorTokenType?: string;
  /** `resource` and `audience` values: all name the vault, or all are `resource`. */
  targets: string[];
  /** The one registered resource (RFC 8707) the token is for, when it is not the vault. */
  resource?: string;
  /** Scope tokens as asked for, de-duplicated, in order. */
  requestedScopes: string[];
  /** Our extension: `expires_in` (seconds) asks for a shorter lifetime. */
  requestedTtlSeconds?: number;
}

/** How the client tried to authenticate; nothing here is verified yet. */
export type PresentedClient =
  | { kind: 'secret'; method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: Secret }
  | { kind: 'assertion'; clientId?: string; assertion: string };

type Form = Record<string, unknown>;

/** The form body as an object, or `invalid_request` (the token endpoint takes form encoding only). */
export function formOf(contentType: string | undefined, body: unknown): Form {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded' || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new OAuthError('invalid_request', 'the request body must be application/x-www-form-urlencoded');
  }
  return body as Form;
}

/**
 * Checks the parameters of RFC 8693 §2.1 (client authentication is read by `presentedClient`).
 * `targets`: the `resource`/`audience` values that name the vault.
 */
export function parseExchangeRequest(form: Form, vaultTargets: readonly string[]): ExchangeRequest {
  noRepeats(form);
  const grantType = single(form, 'grant_type');
  if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
  if (grantType !== TOKEN_EXCHANGE_GRANT)
    throw new OAuthError('unsupported_grant_type', `supported grant types: ${TOKEN_EXCHANGE_GRANT}, ${JWT_BEARER_GRANT}`);

  const subjectToken = single(form, 'subject_token');
  const subjectTokenType = single(form, 'subject_token_type');
  if (!subjectToken) throw new OAuthError('invalid_request', 'subject_token is required');
  if (!subjectTokenType || !INPUT_TOKEN_TYPES.includes(subjectTokenType)) {
    throw new OAuthError('invalid_request', 'subject_token_type must be an access_token, id_token or jwt token type');
  }
  const actorToken = single(form, 'actor_token');
  const actorTokenType = single(form, 'actor_token_type');
  if (actorToken !== undefined && (!actorTokenType || !INPUT_TOKEN_TYPES.includes(actorTokenType))) {
    throw new OAuthError('invalid_request', 'actor_token_type is required with actor_token and must be a JWT token type');
  }
  if (actorToken === undefined && actorTokenType !== undefined)
    throw new OAuthError('invalid_request', 'actor_token_type without actor_token');
  const requested = single(form, 'requested_token_type');
  if (requested !== undefined && !OUTPUT_TOKEN_TYPES.includes(requested)) {
    throw new OAuthError('invalid_request', 'requested_token_type must be the access_token or jwt token type');
  }

  // One `resource` may name a registered resource of the tenant instead (RFC 8707, docs/resources.md):
  // it is looked up once the subject token names the tenant.
  const resource = registeredResourceOf(form, vaultTargets);
  const targets = resource === undefined ? targetsOf(form, vaultTargets) : [resource];

  return {
    subjectToken,
    subjectTokenType,
    ...(actorToken !== undefined ? { actorToken, actorTokenType } : {}),
    targets,
    ...(resource !== undefined ? { resource } : {}),
    requestedScopes: scopesOf(single(form, 'scope')),
    ...ttlOf(single(form, 'expires_in')),
  };
}

/** Only `resource` and `audience` may be repeated (RFC 8693). */
export function noRepeats(form: Form): void {
  for (const [name, value] of Object.entries(form)) {
    if (Array.isArray(value) && !MULTI_VALUED.has(name)) throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
  }
}

/** The `resource`/`audience` values (RFC 8707), every one naming the vault. */
export function targetsOf(form: Form, vaultTargets: readonly string[]): string[] {
  const targets = [...multi(form, 'resource'), ...multi(form, 'audience')];
  if (targets.length > MAX_TARGETS) throw new OAuthError('invalid_target', 'too many resource/audience values');
  const foreign = targets.filter((t) => !vaultTargets.includes(t));
  if (foreign.length) throw new OAuthError('invalid_target', 'resource/audience must name this vault; it issues tokens for itself only');
  return targets;
}

/** The one resource other than the vault that every `resource`/`audience` value names (a token has one audience), if so. */
function registeredResourceOf(form: Form, vaultTargets: readonly string[]): string | undefined {
  const resources = [...new Set(multi(form, 'resource'))];
  if (resources.length !== 1 || vaultTargets.includes(resources[0])) return undefined;
  const targets = [...multi(form, 'resource'), ...multi(form, 'audience')];
  return targets.length <= MAX_TARGETS && targets.every((t) => t === resources[0]) ? resources[0] : undefined;
}

/**
 * The client authentication the request carries: HTTP Basic, `client_secret` in the body, or a
 * JWT client assertion (private_key_jwt or federation). Exactly one (RFC 6749 §2.3).
 */
export function presentedClient(form: Form, authorization: string | undefined): PresentedClient {
  const clientIdParam = single(form, 'client_id');
  const postSecret = single(form, 'client_secret');
  const assertionType = single(form, 'client_assertion_type');
  const assertion = single(form, 'client_assertion');
  const basic = authorization !== undefined && /^basic /i.test(authorization) ? authorization.slice(6).trim() : undefined;
  if (authorization !== undefined && basic === undefined)
    throw new OAuthError('invalid_client', 'only HTTP Basic client authentication is accepted in the Authorization header');

  const methods = [basic !== undefined, postSecret !== undefined, assertion !== undefined || assertionType !== undefined].filter(
    Boolean,
  ).length;
  if (methods > 1) throw new OAuthError('invalid_request', 'use exactly one client authentication method');
  if (methods === 0) throw new OAuthError('invalid_client', 'client authentication is required');

  if (basic !== undefined) {
    const { clientId, secret } = decodeBasic(basic);
    if (clientIdParam !== undefined && clientIdParam !== clientId)
      throw new OAuthError('invalid_request', 'client_id does not match the Authorization header');
    return { kind: 'secret', method: 'client_secret_basic', clientId, secret };
  }
  if (postSecret !== undefined) {
    if (!clientIdParam) throw new OAuthError('invalid_client', 'client_id is required with client_secret');
    if (postSecret.length > MAX_SECRET) throw new OAuthError('invalid_client', 'client authentication failed');
    return { kind: 'secret', method: 'client_secret_post', clientId: clientIdParam, secret: Secret.of(postSecret) };
  }
  if (assertionType !== JWT_BEARER_ASSERTION)
    throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
  if (!assertion) throw new OAuthError('invalid_client', 'client_assertion is required');
  return { kind: 'assertion', ...(clientIdParam ? { clientId: clientIdParam } : {}), assertion };
}

function decodeBasic(encoded: string): { clientId: string; secret: Secret } {
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon <= 0 || decoded.length > 2 * MAX_SECRET) throw new OAuthError('invalid_client', 'malformed HTTP Basic credentials');
  try {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined.
    const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: unform(decoded.slice(0, colon)), secret: Secret.of(unform(decoded.slice(colon + 1))) };
  } catch {
    throw new OAuthError('invalid_client', 'malformed HTTP Basic credentials');
  }
}

/** A parameter given once (or absent). Empty values count as absent (RFC 6749 §3.1). */
export function single(form: Form, name: string): string | undefined {
  const value = form[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
  if (value.length > MAX_PARAM) throw new OAuthError('invalid_request', `parameter ${name} is too long`);
  return value;
}

function multi(form: Form, name: string): string[] {
  const value = form[name];
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.map((v) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > 2048) throw new OAuthError('invalid_target', `invalid ${name} value`);
    return v;
  });
}

export function scopesOf(scope: string | undefined): string[] {
  if (scope === undefined) throw new OAuthError('invalid_scope', 'scope is required: space-separated connections:<integration> entries');
  const list = [...new Set(scope.split(' ').filter(Boolean))];
  if (list.length === 0) throw new OAuthError('invalid_scope', 'scope is required: space-separated connections:<integration> entries');
  if (list.length > MAX_SCOPES) throw new OAuthError('invalid_scope', `at most ${MAX_SCOPES} scopes per request`);
  if (!list.every((s) => SCOPE_TOKEN.test(s))) throw new OAuthError('invalid_scope', 'scope contains invalid characters');
  return list;
}

/** The integration a scope asks for, or undefined for a scope the vault does not issue. */
export function integrationOf(scope: string): string | undefined {
  if (!scope.startsWith(CONNECTIONS_SCOPE_PREFIX)) return undefined;
  const name = scope.slice(CONNECTIONS_SCOPE_PREFIX.length);
  return INTEGRATION_NAME.test(name) ? name : undefined;
}

export function ttlOf(value: string | undefined): { requestedTtlSeconds?: number } {
  if (value === undefined) return {};
  if (!/^[1-9][0-9]{0,6}$/.test(value)) throw new OAuthError('invalid_request', 'expires_in must be a positive number of seconds');
  return { requestedTtlSeconds: Number(value) };
}
