import type { OpenAPIObject } from '@nestjs/swagger';
import { ErrorCode, ErrorCodes } from '../../../libs/kernel';
import type { OAuthErrorCode } from '../../../libs/token-service';
import { FRAMEWORK_CODES } from '../http/error-classifier';
import { routeGroupOf } from './route-groups';

type Schema = Record<string, unknown>;
type Operation = {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Schema[];
  requestBody?: Schema;
  responses: Record<string, Schema>;
};

const OAUTH_CODES: Record<number, OAuthErrorCode[]> = {
  400: [
    'invalid_request',
    'invalid_grant',
    'unsupported_grant_type',
    'invalid_scope',
    'invalid_target',
    'invalid_dpop_proof',
    'invalid_binding_message',
    'authorization_pending',
    'slow_down',
    'access_denied',
    'expired_token',
  ],
  401: ['invalid_client'],
  429: ['rate_limited'],
  500: ['server_error'],
  503: ['temporarily_unavailable'],
};

type Errors = Partial<Record<number, ErrorCode[] | string[]>>;

const RELEASE: Errors = {
  400: ['validation_failed', 'invalid_request'],
  401: ['invalid_token', 'invalid_dpop_proof'],
  403: ['not_an_agent_token', 'scope_missing', 'policy_denied', 'scope_exceeds_policy'],
  404: ['connection_not_found'],
  409: ['needs_reauth'],
  415: ['unsupported_media_type'],
};
const ADMIN: Errors = { 400: ['validation_failed', 'invalid_request'], 401: ['invalid_token'], 403: ['forbidden', 'not_a_user_token'] };
const WITH_BODY: Errors = { 413: ['payload_too_large'], 415: ['unsupported_media_type'] };
const ALWAYS: Errors = { 500: ['internal_error'], 503: ['unavailable'] };

/** What each admin route refuses beyond the admin API's common errors (by `METHOD /path`). */
const ADMIN_ROUTES: Record<string, Errors> = {
  'PUT /v1/admin/integrations/{name}': { 409: ['conflict'] },
  'GET /v1/admin/integrations/{name}': { 404: ['integration_not_found'] },
  'DELETE /v1/admin/integrations/{name}': { 404: ['integration_not_found'] },
  'DELETE /v1/admin/agents/{client_id}': { 404: ['not_found'] },
  'POST /v1/admin/agents/{client_id}/secret': { 404: ['not_found'] },
  'POST /v1/admin/agents/{client_id}/revoke-tokens': { 404: ['not_found'] },
  'DELETE /v1/admin/policies/{name}': { 404: ['not_found'] },
  'PUT /v1/admin/connections/{integration}/users/{user}': { 404: ['integration_not_found'], 409: ['conflict'] },
  'PUT /v1/admin/connections/{integration}/tenant': { 404: ['integration_not_found'], 409: ['conflict'] },
  'DELETE /v1/admin/connections/{integration}/users/{user}': { 404: ['connection_not_found'] },
  'DELETE /v1/admin/connections/{integration}/tenant': { 404: ['connection_not_found'] },
  'GET /v1/admin/keys/jobs/{id}': { 404: ['not_found'] },
  'POST /v1/admin/keys/rotate': { 409: ['conflict'], 501: ['not_implemented'] },
  'POST /v1/admin/keys/retire': { 409: ['conflict'] },
  'POST /v1/connect/sessions': { 404: ['integration_not_found'], 409: ['conflict'] },
};

/** Short summaries (CONTRACT.md); routes without one show their path. */
const SUMMARIES: Record<string, string> = {
  'POST /v1/connections/{integration}/token': 'Release a credential to an agent',
  'PUT /v1/admin/integrations/{name}': 'Create or replace an integration (secrets write-only)',
  'GET /v1/admin/integrations': 'List integrations',
  'GET /v1/admin/integrations/{name}': 'Read an integration (never secrets)',
  'DELETE /v1/admin/integrations/{name}': 'Remove an integration',
  'PUT /v1/admin/agents/{client_id}': 'Register an agent (a secret method returns client_secret once)',
  'GET /v1/admin/agents': 'List agents',
  'DELETE /v1/admin/agents/{client_id}': 'Remove an agent',
  'POST /v1/admin/agents/{client_id}/secret': "Rotate an agent's client secret (the previous one overlaps)",
  'PUT /v1/admin/policies/{name}': 'Create or replace a policy',
  'GET /v1/admin/policies': 'List policies',
  'DELETE /v1/admin/policies/{name}': 'Remove a policy',
  'PUT /v1/admin/connections/{integration}/users/{user}': "Store a user's API key",
  'PUT /v1/admin/connections/{integration}/tenant': "Store the tenant's API key",
  'GET /v1/admin/connections': 'List connections (metadata only)',
  'DELETE /v1/admin/connections/{integration}/users/{user}': 'Disconnect a user (revoke at the provider, then destroy)',
  'DELETE /v1/admin/connections/{integration}/tenant': 'Disconnect the tenant-level connection',
  'POST /v1/connect/sessions': 'Start a connect session for a user (single-use URL)',
  'GET /v1/admin/audit': 'Audit events, newest first',
  'GET /v1/admin/keys': 'Key versions in use and rotation progress',
  'POST /v1/admin/keys/rotate': 'Start an online key rotation',
  'GET /v1/admin/keys/jobs/{id}': 'Progress of a key job',
  'POST /v1/admin/keys/retire': 'Retire tenant-key versions',
  'DELETE /v1/admin/users/{user}': 'Crypto-shred a user',
  'DELETE /v1/admin/tenant': 'Crypto-shred the tenant',
  'POST /oauth2/token': 'Token exchange (RFC 8693) and CIBA polling for agents',
  'POST /oauth2/bc-authorize': "CIBA backchannel authentication: ask for the user's approval (poll mode)",
  'GET /account/approvals/{id}': 'An approval request, for the signed-in user it is about',
  'POST /account/approvals/{id}/{answer}': 'Approve or deny an approval request (once)',
  'POST /oauth2/revoke': 'Revoke a vault token (RFC 7009), by the agent it was issued to',
  'POST /oauth2/introspect': 'Introspect a vault token (RFC 7662), by its agent or an admin',
  'POST /v1/admin/agents/{client_id}/revoke-tokens': 'Revoke every token of an agent issued up to now',
  'POST /v1/admin/users/{user}/revoke-tokens': 'Revoke every token of a user issued up to now',
  'GET /.well-known/oauth-authorization-server': 'Authorization server metadata (RFC 8414)',
  'GET /.well-known/oauth-protected-resource': 'Protected resource metadata (RFC 9728)',
  'GET /.well-known/jwks.json': "The token service's signing keys",
  'GET /healthz': 'The process is up',
  'GET /readyz': 'Ready: database and key provider answer',
  'GET /metrics': 'Prometheus metrics',
  'GET /connect/{secret}': 'Open a connect link (a Continue page; opening does not use it up)',
  'POST /connect/{secret}': 'Continue: claim the connect session for this browser (single use)',
  'GET /oauth/callback': 'OAuth redirect URI',
  'GET /connections': "The user's connections page",
  'GET /account': "Your account (signed in through the tenant's OpenID provider)",
  'GET /t/{tenant}/account': 'Your account, for a named tenant',
  'GET /auth/callback': 'User sign-in redirect URI (register it at the OpenID provider)',
  'PUT /v1/admin/user-login': 'Configure the OpenID provider users sign in with (secret write-only)',
  'GET /v1/admin/user-login': 'The OpenID provider users sign in with (never the secret)',
  'PUT /v1/admin/tenant': "Set the tenant's display name and logo (shown on the pages for people)",
  'GET /v1/admin/tenant': "The tenant's display name and logo",
  'GET /v1/admin/users/{subject}/sessions': "A person's live sessions on /account",
  'DELETE /v1/admin/users/{subject}/sessions': "End all of a person's sessions at once",
};

const AUDIT_FILTERS = [
  ['action', 'e.g. credential.release'],
  ['outcome', 'allowed, denied or error'],
  ['agent', ''],
  ['user', ''],
  ['integration', ''],
  ['approval', "an approval's id: its whole chain (request, answer, token, releases)"],
  ['since', 'ISO 8601, inclusive'],
  ['until', 'ISO 8601, exclusive'],
  ['cursor', "from a previous page's next"],
  ['limit', '1..200, default 50'],
] as const;

/** RFC 7009 / RFC 7662 requests: the token, an optional hint, and the client authentication of the token endpoint. */
const TOKEN_PARAM_FORM = {
  type: 'object',
  required: ['token'],
  properties: { token: { type: 'string' }, token_type_hint: { type: 'string' } },
};

const CLIENT_AUTH_FIELDS = ['client_id', 'client_secret', 'client_assertion_type', 'client_assertion'];

/** CIBA Core 1.0 §7.1, poll mode. */
const BC_AUTHORIZE_FORM = {
  type: 'object',
  required: ['scope'],
  properties: Object.fromEntries(
    [
      'scope',
      'login_hint_token',
      'id_token_hint',
      'binding_message',
      'authorization_details',
      'requested_expiry',
      ...CLIENT_AUTH_FIELDS,
    ].map((n) => [n, { type: 'string' }]),
  ),
};

/** Token exchange (RFC 8693: subject_token…) or CIBA polling (auth_req_id). */
const TOKEN_FORM = {
  type: 'object',
  required: ['grant_type'],
  properties: Object.fromEntries(
    [
      'grant_type',
      'subject_token',
      'subject_token_type',
      'actor_token',
      'actor_token_type',
      'requested_token_type',
      'resource',
      'audience',
      'scope',
      'expires_in',
      'client_id',
      'client_secret',
      'client_assertion_type',
      'client_assertion',
      'auth_req_id',
    ].map((n) => [n, { type: 'string' }]),
  ),
};

function problemResponse(status: number, codes: readonly string[]): Schema {
  const headers: Record<string, Schema> = {};
  if (status === 429 || status === 503) headers['Retry-After'] = { description: 'Seconds to wait', schema: { type: 'integer' } };
  if (status === 401) headers['WWW-Authenticate'] = { schema: { type: 'string' } };
  return {
    description: codes.map((c) => `\`${c}\``).join(', '),
    ...(Object.keys(headers).length ? { headers } : {}),
    content: {
      'application/problem+json': {
        schema: {
          allOf: [{ $ref: '#/components/schemas/Problem' }, { type: 'object', properties: { code: { type: 'string', enum: codes } } }],
        },
      },
    },
  };
}

function oauthResponse(status: number, codes: readonly string[]): Schema {
  return {
    description: codes.map((c) => `\`${c}\``).join(', '),
    ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { schema: { type: 'integer' } } } } : {}),
    content: {
      'application/json': {
        schema: {
          allOf: [{ $ref: '#/components/schemas/OAuthError' }, { type: 'object', properties: { error: { type: 'string', enum: codes } } }],
        },
      },
    },
  };
}

const PAGE_ERRORS: Record<number, string> = {
  400: 'This link cannot be used',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  500: 'Something went wrong (with an error id)',
  503: 'Try again in a moment',
};

function merge(...lists: Errors[]): Errors {
  const out: Errors = {};
  for (const l of lists)
    for (const [s, codes] of Object.entries(l)) out[Number(s)] = [...new Set([...(out[Number(s)] ?? []), ...(codes ?? [])])];
  return out;
}

/** `/v1/x/{id}` as the route group helper expects it (Fastify's `:id`). */
function fastifyPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ':$1');
}

function tagOf(path: string, method = ''): string {
  if (path.startsWith('/v1/connections/')) return 'Release';
  if (path === '/v1/admin/tenant' && method !== 'delete') return 'Admin: tenant';
  if (/^\/v1\/admin\/users\/\{[a-z]+\}\/sessions$/.test(path)) return 'Admin: user sessions';
  const admin = /^\/v1\/admin\/([a-z-]+)/.exec(path);
  if (admin) return ['users', 'tenant'].includes(admin[1]) ? 'Admin: shredding' : `Admin: ${admin[1]}`;
  if (path.startsWith('/v1/connect/')) return 'Admin: connect sessions';
  if (path.startsWith('/oauth2/') || path.startsWith('/.well-known/')) return 'Token service';
  if (['/healthz', '/readyz', '/metrics'].includes(path)) return 'Operations';
  if (path === '/dashboard' || path.startsWith('/dashboard/')) return 'Operator dashboard';
  return 'Consent pages';
}

/**
 * Completes the document Nest scanned from the controllers: the problem+json and OAuth error
 * schemas, each operation's error responses with their stable codes, security, tags and
 * summaries, and what the scanner cannot see (the audit filters, the token endpoint's form).
 */
export function completeDocument(doc: OpenAPIObject): OpenAPIObject {
  // The domain's codes, then those the HTTP layer answers before our code runs (the classifier's).
  const allCodes = [...new Set([...Object.keys(ErrorCodes), ...Object.values(FRAMEWORK_CODES)])];
  doc.components = doc.components ?? {};
  doc.components.schemas = {
    ...doc.components.schemas,
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem details with a stable `code`.',
      required: ['type', 'title', 'status', 'code'],
      properties: {
        type: { type: 'string', example: 'about:blank' },
        title: { type: 'string' },
        status: { type: 'integer' },
        code: { type: 'string', enum: allCodes },
        detail: { type: 'string', description: 'Human-readable; never a secret' },
        instance: { type: 'string', description: 'The request path' },
        errors: {
          type: 'array',
          description: 'validation_failed: each bad field (values are never echoed)',
          items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
        },
        connect_url: { type: 'string', format: 'uri', description: 'connection_not_found, needs_reauth: where the user can (re)connect' },
        connect_url_expires_at: { type: 'string', format: 'date-time' },
        error_id: { type: 'string', format: 'uuid', description: 'internal_error: quote it to the operator' },
      },
    },
    OAuthError: {
      type: 'object',
      description: 'RFC 6749 §5.2 error (token endpoint).',
      required: ['error'],
      properties: { error: { type: 'string', enum: Object.values(OAUTH_CODES).flat() }, error_description: { type: 'string' } },
    },
  };

  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item as Record<string, Operation>)) {
      const key = `${method.toUpperCase()} ${path}`;
      op.tags = [tagOf(path, method)];
      // A route mapped at two paths (`/account` and `/t/{tenant}/account`) is scanned with the first one's parameters.
      for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
        if (!(op.parameters ?? []).some((x) => 'in' in x && x.in === 'path' && x.name === name))
          (op.parameters ??= []).push({ name, in: 'path', required: true, schema: { type: 'string' } });
      }
      if (SUMMARIES[key]) op.summary = SUMMARIES[key];
      const group = routeGroupOf({ method: method.toUpperCase(), routeOptions: { url: fastifyPath(path) } });
      const hasBody = op.requestBody !== undefined;
      if (group === 'release' || group === 'admin') {
        op.security = [{ bearer: [] }];
        const errors = merge(
          group === 'release' ? RELEASE : ADMIN,
          hasBody ? WITH_BODY : {},
          ADMIN_ROUTES[key] ?? {},
          { 429: ['rate_limited'] },
          ALWAYS,
        );
        for (const [status, codes] of Object.entries(errors)) op.responses[status] = problemResponse(Number(status), codes!);
        if (method === 'put') {
          op.responses['200'] = { description: 'Replaced' };
          op.responses['201'] = { description: 'Created' };
        }
      } else if (key === 'POST /oauth2/revoke' || key === 'POST /oauth2/introspect') {
        op.security = [{ client: [] }];
        op.requestBody = { required: true, content: { 'application/x-www-form-urlencoded': { schema: TOKEN_PARAM_FORM } } };
        const codes: Record<number, OAuthErrorCode[]> = {
          400: key === 'POST /oauth2/revoke' ? ['invalid_request', 'unsupported_token_type'] : ['invalid_request'],
          401: ['invalid_client'],
          429: ['rate_limited'],
          500: ['server_error'],
          503: ['temporarily_unavailable'],
        };
        for (const [status, c] of Object.entries(codes)) op.responses[status] = oauthResponse(Number(status), c);
      } else if (key === 'POST /oauth2/token' || key === 'POST /oauth2/bc-authorize') {
        op.security = [{ client: [] }, {}];
        const form = key === 'POST /oauth2/token' ? TOKEN_FORM : BC_AUTHORIZE_FORM;
        op.requestBody = { required: true, content: { 'application/x-www-form-urlencoded': { schema: form } } };
        for (const [status, codes] of Object.entries(OAUTH_CODES)) op.responses[status] = oauthResponse(Number(status), codes);
      } else if (tagOf(path) === 'Consent pages' || tagOf(path) === 'Operator dashboard') {
        // Browser pages: errors are HTML pages; actions answer with a redirect.
        if (method === 'post' || key === 'GET /connect/{secret}' || key === 'GET /oauth/callback') {
          delete op.responses['201'];
          if (key === 'GET /connect/{secret}') delete op.responses['200'];
          if (key === 'POST /connect/s/{id}/cancel') op.responses['200'] = { description: 'Cancelled (a page)' };
          op.responses['303'] = { description: 'Redirect to the next page, the provider or the app' };
        }
        for (const [status, title] of Object.entries(PAGE_ERRORS))
          op.responses[status] = { description: title, content: { 'text/html': { schema: { type: 'string' } } } };
        // The dashboard and the pages for people are rate limited per address (a page with Retry-After).
        op.responses['429'] = {
          description: 'Too many requests (Retry-After)',
          content: { 'text/html': { schema: { type: 'string' } } },
        };
      } else {
        const errors = merge(key === 'GET /readyz' || path.startsWith('/.well-known/') ? ALWAYS : { 500: ['internal_error'] });
        for (const [status, codes] of Object.entries(errors)) op.responses[status] = problemResponse(Number(status), codes!);
      }
      if (key === 'GET /v1/admin/audit') {
        op.parameters = AUDIT_FILTERS.map(([name, description]) => ({
          name,
          in: 'query',
          required: false,
          schema: { type: 'string' },
          ...(description ? { description } : {}),
        }));
      }
    }
  }
  return doc;
}
