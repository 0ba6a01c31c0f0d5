// A real OpenID provider (oidc-provider 9, ESM-only) for the token-service tests, run as
// its own Node process because Jest runs CommonJS. Started by test/support/oidc/idp.ts.
//
// Input (env IDP_OPTIONS, JSON): { audience, users: { <id>: { tid, roles, groups } },
//   algorithm?: 'RS256' | 'ES256', shortTtlSeconds?: number }
// Output: one JSON line on stdout, { issuer, jwks_uri, algorithm }, once it listens on a free port.
//
// Users' tokens are JWT access tokens (RFC 9068) for the vault's audience, issued through
// a real authorization-code flow with PKCE and a resource indicator (RFC 8707). The login
// and consent steps are scripted: the interaction route signs in the account named by
// `login_hint` and grants the requested scopes, so no HTML is parsed. Roles, groups and
// the tenant (`tid`) are added to the access token with `extraTokenClaims`.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const options = JSON.parse(process.env.IDP_OPTIONS ?? '{}');
const audience = options.audience;
const users = options.users ?? {};
const algorithm = options.algorithm ?? 'RS256';
const shortTtl = options.shortTtlSeconds ?? 1;
if (!audience) throw new Error('IDP_OPTIONS.audience is required');

const pair =
  algorithm === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...pair.privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: algorithm, use: 'sig' };

const REDIRECT_URI = 'http://127.0.0.1/callback';
/** `app` gets normal access tokens; `short-lived-app` gets ones that expire after `shortTtlSeconds`. */
const clients = ['app', 'short-lived-app'].map((client_id) => ({
  client_id,
  token_endpoint_auth_method: 'none',
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code'],
  response_types: ['code'],
}));

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount: async (_ctx, id) => (users[id] ? { accountId: id, claims: async () => ({ sub: id }) } : undefined),
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource, client) => {
        if (resource !== audience) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'vault',
          audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: client.clientId === 'short-lived-app' ? shortTtl : 600,
          jwt: { sign: { alg: algorithm } },
        };
      },
    },
  },
  extraTokenClaims: async (_ctx, token) => {
    const user = users[token.accountId];
    if (!user) return undefined;
    return { tid: user.tid, roles: user.roles ?? [], groups: user.groups ?? [] };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
});
provider.on('server_error', (_ctx, err) => process.stderr.write(`idp server_error: ${err.stack}\n`));

/** The scripted login + consent: the account named by login_hint, every requested scope granted. */
async function interaction(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    const accountId = details.params.login_hint;
    if (!users[accountId]) {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'unknown user' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    const scopes = String(details.params.scope ?? '')
      .split(' ')
      .filter(Boolean);
    const oidcScopes = scopes.filter((s) => s === 'openid');
    if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
    grant.addResourceScope(audience, scopes.filter((s) => s !== 'openid').join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  } catch (err) {
    process.stderr.write(`idp interaction failed: ${err.stack}\n`);
    res.statusCode = 500;
    res.end();
  }
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/interaction/')) return void interaction(req, res);
  callback(req, res);
});

process.stdout.write(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, algorithm, redirect_uri: REDIRECT_URI }) + '\n');
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The parent test process holds our stdin; when it goes away, so do we.
process.stdin.on('end', stop);
process.stdin.resume();
