import { OAuthError } from '../oauth-error';
import { integrationOf } from '../exchange-request';

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

/** A parsed backchannel authentication request (CIBA Core 1.0 §7.1), client authentication aside. */
export interface BackchannelRequest {
  /** The user's token, from `login_hint_token` or `id_token_hint`. */
  userToken: string;
  hint: 'login_hint_token' | 'id_token_hint';
  /** The integrations of `connections:<integration>` scopes; empty when `resource` is given. */
  integrations: string[];
  /** RFC 8707: the identifier of one of the tenant's resources, whose scopes `scopes` are. */
  resource?: string;
  scopes: string[];
  bindingMessage: string | null;
  authorizationDetails: unknown[] | null;
  requestedExpiry?: number;
}

const MAX_SCOPES = 20;
/** What the approval page can show: a short sentence (issue 17: 64 characters). */
const MAX_BINDING_MESSAGE = 64;
const MAX_DETAILS = 10;
const MAX_DETAILS_JSON = 4096;
const MAX_PARAM = 16 * 1024;

type Form = Record<string, unknown>;

function single(form: Form, name: string): string | undefined {
  const value = form[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
  if (value.length > MAX_PARAM) throw new OAuthError('invalid_request', `parameter ${name} is too long`);
  return value;
}

/**
 * Checks the parameters of `POST /oauth2/bc-authorize`. Exactly one hint, and it must be the user's
 * token (`login_hint_token` or `id_token_hint`): a bare `login_hint` would let any agent name any user.
 */
export function parseBackchannelRequest(form: Form): BackchannelRequest {
  for (const [name, value] of Object.entries(form))
    if (Array.isArray(value)) throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
  const hints = (['login_hint_token', 'id_token_hint', 'login_hint'] as const).filter((h) => single(form, h) !== undefined);
  if (hints.length !== 1)
    throw new OAuthError('invalid_request', 'exactly one of login_hint_token, id_token_hint or login_hint is required');
  if (hints[0] === 'login_hint')
    throw new OAuthError('invalid_request', "login_hint is not accepted: send the user's token as login_hint_token or id_token_hint");
  const hint = hints[0];

  const resource = single(form, 'resource');
  const scope = single(form, 'scope');
  const scopes = [...new Set((scope ?? '').split(' ').filter((s) => s && s !== 'openid'))];
  if (!scopes.length)
    throw new OAuthError(
      'invalid_scope',
      resource === undefined
        ? 'scope is required: space-separated connections:<integration> entries'
        : "scope is required: space-separated scopes of the resource's",
    );
  if (scopes.length > MAX_SCOPES) throw new OAuthError('invalid_scope', `at most ${MAX_SCOPES} scopes per request`);
  // With a resource the scopes are its own (checked against its scope map by the grant); else connections:<integration>.
  const integrations =
    resource !== undefined
      ? []
      : scopes.map((s) => {
          const i = integrationOf(s);
          if (!i) throw new OAuthError('invalid_scope', 'every scope must be connections:<integration>, or name a resource');
          return i;
        });

  const binding = single(form, 'binding_message') ?? null;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (binding !== null && (binding.length > MAX_BINDING_MESSAGE || /[\u0000-\u001f\u007f]/.test(binding)))
    throw new OAuthError('invalid_binding_message', `binding_message must be at most ${MAX_BINDING_MESSAGE} characters on one line`);

  return {
    userToken: single(form, hint)!,
    hint,
    integrations,
    ...(resource !== undefined ? { resource } : {}),
    scopes,
    bindingMessage: binding,
    authorizationDetails: detailsOf(single(form, 'authorization_details')),
    ...expiryOf(single(form, 'requested_expiry')),
  };
}

/** RFC 9396 §2: a JSON array of objects, each with a string `type`. Bounded: they are shown on a page. */
function detailsOf(raw: string | undefined): unknown[] | null {
  if (raw === undefined) return null;
  const bad = () => new OAuthError('invalid_request', 'authorization_details must be a JSON array of objects with a string type');
  if (raw.length > MAX_DETAILS_JSON) throw new OAuthError('invalid_request', `authorization_details is longer than ${MAX_DETAILS_JSON}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > MAX_DETAILS) throw bad();
  for (const d of parsed) {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw bad();
    const type = (d as { type?: unknown }).type;
    if (typeof type !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(type)) throw bad();
  }
  return parsed as unknown[];
}

function expiryOf(value: string | undefined): { requestedExpiry?: number } {
  if (value === undefined) return {};
  if (!/^[1-9][0-9]{0,5}$/.test(value)) throw new OAuthError('invalid_request', 'requested_expiry must be a positive number of seconds');
  return { requestedExpiry: Number(value) };
}

/** The `auth_req_id` of a CIBA token request. */
export function authReqIdOf(form: Form): string {
  for (const [name, value] of Object.entries(form))
    if (Array.isArray(value)) throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
  const id = single(form, 'auth_req_id');
  if (!id) throw new OAuthError('invalid_request', 'auth_req_id is required');
  return id;
}
