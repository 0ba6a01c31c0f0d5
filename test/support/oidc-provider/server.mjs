// A real OAuth 2.0 / OpenID Connect authorization server (node-oidc-provider, certified) standing in
// for the providers of the catalog. oidc-provider is ESM-only and Jest runs CommonJS, so it runs as
// its own process: `node server.mjs '<json options>'` prints one JSON line {"url","issuer"} when ready.
//
// Modes (PROVIDERS.md):
//   google         refresh tokens never rotate; the authorize request must carry access_type=offline
//                  and prompt=consent (else 400), as Google needs for a refresh token
//   rotating       every refresh returns a new refresh token; reusing an old one revokes the family
//   no-expires-in  Salesforce-like: token responses lose expires_in and gain instance_url, id, issued_at (ms)
//   login          a plain OpenID provider for people signing in to the vault's /account (issue 17):
//                  no Google-style parameters required
//
// Control (tests, issue 4's fault injection): GET /__control/stats, POST /__control/reset,
// POST /__control/faults {"latencyMs":0,"responseDelayMs":0,"next":[{"status":503,"body":{...},"headers":{...}}]}.
// Also usable by hand (README "Connect an account"):
//   node test/support/oidc-provider/server.mjs '{"port":9000,"redirectUris":["http://localhost:8080/oauth/callback"]}'
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const opts = {
  mode: 'google',
  host: '127.0.0.1',
  port: 0,
  clientId: 'vault-client',
  clientSecret: 'vault-client-secret',
  authMethod: 'client_secret_basic',
  redirectUris: ['https://vault.test.example/oauth/callback'],
  accessTokenTtl: 3600,
  ...JSON.parse(process.argv[2] ?? '{}'),
};
if (!['google', 'rotating', 'no-expires-in', 'login'].includes(opts.mode)) throw new Error(`unknown mode ${opts.mode}`);

// token: 200 answers by grant; tokenRequests: POST /token arrivals; tokenErrors: error answers by code;
// tokenResponded: answers written (after responseDelayMs).
const stats = () => ({
  authorize: [],
  token: { authorization_code: 0, refresh_token: 0, other: 0 },
  tokenRequests: 0,
  tokenErrors: {},
  tokenResponded: 0,
  revocation: 0,
  faulted: 0,
});
let counters = stats();
// latencyMs: before the request is processed; responseDelayMs: after it is processed (a refresh token
// already rotated) and before the answer is written — "the provider answered, the caller has not heard".
let faults = { latencyMs: 0, responseDelayMs: 0, next: [] };

let handler = (_req, res) => res.writeHead(503).end();
const server = createServer((req, res) => handler(req, res));
await new Promise((resolve) => server.listen(opts.port, opts.host, resolve));
const { port } = server.address();
const issuer = `http://${opts.host === '0.0.0.0' ? 'localhost' : opts.host}:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: opts.clientId,
      client_secret: opts.clientSecret,
      redirect_uris: opts.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: opts.authMethod,
    },
  ],
  scopes: ['openid', 'offline_access', 'email', 'profile', 'calendar.read', 'calendar.write'],
  // `roles` (a custom claim, with the profile scope) is given only to the logins named in opts.roles.
  claims: { email: ['email', 'email_verified'], profile: ['name', 'roles'] },
  conformIdTokenClaims: false,
  extraParams: ['access_type', 'include_granted_scopes'],
  features: { devInteractions: { enabled: true }, revocation: { enabled: true }, introspection: { enabled: true } },
  pkce: { required: () => true },
  issueRefreshToken: async () => true,
  rotateRefreshToken: opts.mode === 'rotating',
  ttl: {
    AccessToken: opts.accessTokenTtl,
    AuthorizationCode: 60,
    RefreshToken: 14 * 86400,
    Grant: 14 * 86400,
    Session: 3600,
    Interaction: 600,
    IdToken: 3600,
  },
  cookies: { keys: ['test-only-cookie-key'] },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      email: `${sub}@example.test`,
      email_verified: true,
      name: sub,
      ...(opts.roles?.[sub] ? { roles: opts.roles[sub] } : {}),
    }),
  }),
  renderError: async (ctx, out) => {
    ctx.type = 'text/plain';
    ctx.body = `${out.error}: ${out.error_description ?? ''}`;
  },
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/auth' && ctx.method === 'GET') {
    counters.authorize.push(Object.fromEntries(new URLSearchParams(ctx.querystring)));
    if (opts.mode === 'google' && (ctx.query.access_type !== 'offline' || ctx.query.prompt !== 'consent')) {
      ctx.status = 400;
      ctx.body = 'a refresh token needs access_type=offline and prompt=consent';
      return;
    }
  }
  if (ctx.path === '/token' && ctx.method === 'POST') {
    counters.tokenRequests += 1;
    if (faults.latencyMs) await new Promise((r) => setTimeout(r, faults.latencyMs));
    const fault = faults.next.shift();
    if (fault) {
      counters.faulted += 1;
      ctx.status = fault.status ?? 503;
      for (const [k, v] of Object.entries(fault.headers ?? {})) ctx.set(k, v);
      ctx.body = fault.body ?? { error: 'temporarily_unavailable' };
      counters.tokenResponded += 1;
      return;
    }
  }
  if (ctx.path === '/token/revocation') counters.revocation += 1;
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    const grant = ctx.oidc?.params?.grant_type;
    counters.token[grant === 'authorization_code' || grant === 'refresh_token' ? grant : 'other'] += 1;
    if (opts.mode === 'no-expires-in') {
      delete ctx.body.expires_in;
      ctx.body.instance_url = `${issuer}/instance`;
      ctx.body.id = `${issuer}/id/00Dxx0000001gPL/005xx000001Sv6A`;
      ctx.body.issued_at = String(Date.now());
      ctx.body.signature = 'not-a-real-signature';
    }
  }
  if (ctx.path === '/token' && ctx.method === 'POST') {
    const code = ctx.body && typeof ctx.body === 'object' ? ctx.body.error : undefined;
    if (ctx.status >= 400 && typeof code === 'string') counters.tokenErrors[code] = (counters.tokenErrors[code] ?? 0) + 1;
    if (faults.responseDelayMs) await new Promise((r) => setTimeout(r, faults.responseDelayMs));
    counters.tokenResponded += 1;
  }
});

const callback = provider.callback();
handler = async (req, res) => {
  if (req.url?.startsWith('/__control/')) return control(req, res);
  callback(req, res);
};

async function control(req, res) {
  const send = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  let text = '';
  for await (const chunk of req) text += chunk;
  if (req.url === '/__control/stats') return send(200, { ...counters, mode: opts.mode });
  if (req.url === '/__control/reset' && req.method === 'POST') {
    counters = stats();
    faults = { latencyMs: 0, responseDelayMs: 0, next: [] };
    return send(200, {});
  }
  if (req.url === '/__control/faults' && req.method === 'POST') {
    const f = JSON.parse(text || '{}');
    faults = { latencyMs: f.latencyMs ?? 0, responseDelayMs: f.responseDelayMs ?? 0, next: f.next ?? [] };
    return send(200, {});
  }
  send(404, { error: 'not_found' });
}

process.stdout.write(`${JSON.stringify({ url: issuer, issuer, port, mode: opts.mode, clientId: opts.clientId })}\n`);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test runner owns this process: when it goes away (stdin closes), so do we.
process.stdin.on('end', stop);
process.stdin.resume();
