import { startTestVault, TestVault } from '../support/vault';
import { ClientSide, pkce, tokenCall } from './support';

const T = 'acme';
const CRM = 'https://crm.internal.example.com';
const BASE = 'https://vault.test.example';

/**
 * Issue 19 §2 "Bad input" without a browser: the checks /oauth2/authorize makes before anyone signs
 * in (no open redirect: an unknown client or redirect URI is a page, never a redirect; later errors
 * go back to the client with state and iss), Dynamic Client Registration's rules and rate limit,
 * Client ID Metadata Documents that are refused, the token endpoint's refusals, and the metadata.
 */
describe('/oauth2/authorize, /oauth2/register, CIMD: refusals', () => {
  let v: TestVault;
  let client: ClientSide;
  let clientId: string;
  let redirectUri: string;
  const challenge = pkce().challenge;

  const authorize = (p: Record<string, string | undefined>, prefix = '') => {
    const q = new URLSearchParams();
    const all = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 's1',
      resource: CRM,
      scope: 'crm:read',
      ...p,
    };
    for (const [k, val] of Object.entries(all)) if (val !== undefined) q.set(k, val);
    return fetch(`${v.url}${prefix}/oauth2/authorize?${q}`, { redirect: 'manual' });
  };
  /** A refusal shown to the person: a page, and no redirect anywhere. */
  const expectPage = async (res: Response, text: string) => {
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain(text);
  };
  /** A refusal sent back to the client. */
  const expectBack = (res: Response, error: string) => {
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get('location')!);
    expect(loc.origin + loc.pathname).toBe(redirectUri);
    expect([loc.searchParams.get('error'), loc.searchParams.get('state'), loc.searchParams.get('iss')]).toEqual([error, 's1', BASE]);
    return loc.searchParams.get('error_description');
  };
  /** Validation passed: the next step is signing in, which this vault has not set up. */
  const expectSignIn = async (res: Response) => {
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('Signing in is not set up');
  };
  const register = (body: unknown, prefix = '') => v.call('POST', `${prefix}/oauth2/register`, { body });

  beforeAll(async () => {
    client = await new ClientSide().start();
    v = await startTestVault({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', VAULT_DEFAULT_TENANT: T, OAUTH_DCR_TENANTS: T });
    const res = await v.call('PUT', '/v1/admin/resources/crm', {
      token: v.issuer.adminToken(T),
      body: { identifier: CRM, display_name: 'CRM', scopes: { 'crm:read': { roles_any: ['analyst'] } } },
    });
    expect(res.status).toBe(201);
    redirectUri = 'http://127.0.0.1:33333/callback';
    const reg = await register({ client_name: 'Cursor', redirect_uris: [redirectUri, 'https://app.example.com/cb'] });
    expect(reg.status).toBe(201);
    clientId = reg.body.client_id;
  });
  afterAll(async () => {
    await v?.close();
    await client?.close();
  });

  it('RFC 8414 metadata advertises the authorization endpoint, PKCE S256, DCR, CIMD and the iss parameter', async () => {
    const as = (await v.call('GET', '/.well-known/oauth-authorization-server')).body;
    expect(as).toMatchObject({
      issuer: BASE,
      authorization_endpoint: `${BASE}/oauth2/authorize`,
      registration_endpoint: `${BASE}/oauth2/register`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    });
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
    expect(as.token_endpoint_auth_methods_supported).toContain('none');
  });

  it('DCR registers public clients (audited) and refuses bad redirect URIs, confidential clients and tenants without DCR', async () => {
    const [audit] = await v.db.ds.query(
      `SELECT details FROM vault.audit_events WHERE tenant = $1 AND action = 'oauth_client.register' ORDER BY seq LIMIT 1`,
      [T],
    );
    expect(audit.details).toMatchObject({ client_id: clientId, client_name: 'Cursor' });
    for (const [body, error] of [
      [{ redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://app.example.com/cb#frag'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: [] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata'],
      [{ redirect_uris: ['https://app.example.com/cb'], grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
    ] as const) {
      const res = await register(body);
      expect([res.status, res.body.error]).toEqual([400, error]);
    }
    const off = await register({ redirect_uris: ['https://app.example.com/cb'] }, '/t/globex');
    expect([off.status, off.body.error]).toEqual([403, 'access_denied']);
  });

  it('no open redirect: an unknown client, an unregistered, fragment or non-loopback http redirect URI is a page', async () => {
    await expectPage(await authorize({ client_id: 'dcr_unknown' }), 'could not be recognised');
    await expectPage(await authorize({ client_id: undefined }), 'client_id is missing');
    await expectPage(await authorize({ redirect_uri: 'https://evil.example.com/cb' }), 'has not registered');
    await expectPage(await authorize({ redirect_uri: 'https://app.example.com/cb#x' }), 'has not registered');
    await expectPage(await authorize({ redirect_uri: 'https://app.example.com/cb/more' }), 'has not registered');
    await expectPage(await authorize({ redirect_uri: 'http://app.example.com/cb' }), 'has not registered');
    await expectPage(await authorize({ redirect_uri: 'http://127.0.0.1:4444/other' }), 'has not registered');
    // Another tenant does not know this tenant's client.
    await expectPage(await authorize({}, '/t/globex'), 'could not be recognised');
  });

  it('loopback redirect URIs may use any port (RFC 8252); the https one must match exactly', async () => {
    await expectSignIn(await authorize({ redirect_uri: 'http://127.0.0.1:4444/callback' }));
    await expectSignIn(await authorize({ redirect_uri: 'https://app.example.com/cb' }));
  });

  it('after the client checks out, errors go back to it with state and iss', async () => {
    expect(expectBack(await authorize({ resource: undefined }), 'invalid_target')).toContain('resource is required');
    expect(expectBack(await authorize({ resource: 'https://unknown.example.com' }), 'invalid_target')).toContain('not a registered');
    expectBack(await authorize({ response_type: 'token' }), 'unsupported_response_type');
    expectBack(await authorize({ code_challenge_method: 'plain' }), 'invalid_request');
    expectBack(await authorize({ code_challenge: undefined, code_challenge_method: undefined }), 'invalid_request');
    expectBack(await authorize({ code_challenge: 'short' }), 'invalid_request');
    const longState = await authorize({ state: 'x'.repeat(513) });
    expect(new URL(longState.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    // Without state (PKCE binds the answer): accepted, and the next step is signing in.
    await expectSignIn(await authorize({ state: undefined }));
  });

  it('a Client ID Metadata Document is used when it checks out, and cached as its headers say', async () => {
    let fetched = 0;
    const url = `${client.url}/good.json`;
    client.routes.set('/good.json', (res) => {
      fetched++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' });
      res.end(JSON.stringify({ client_id: url, client_name: 'Inspector', redirect_uris: [redirectUri] }));
    });
    await expectSignIn(await authorize({ client_id: url }));
    await expectSignIn(await authorize({ client_id: url }));
    expect(fetched).toBe(1);
    let uncached = 0;
    const nostore = `${client.url}/nostore.json`;
    client.routes.set('/nostore.json', (res) => {
      uncached++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ client_id: nostore, redirect_uris: [redirectUri] }));
    });
    await expectSignIn(await authorize({ client_id: nostore }));
    await expectSignIn(await authorize({ client_id: nostore }));
    expect(uncached).toBe(2);
    // Redirect URIs come from the document only.
    await expectPage(await authorize({ client_id: url, redirect_uri: 'https://app.example.com/cb' }), 'has not registered');
  });

  it('bad metadata documents are refused: too large, not JSON, redirecting, another client_id, private address, plain http', async () => {
    const big = `${client.url}/big.json`;
    client.json('/big.json', { client_id: big, redirect_uris: [redirectUri], padding: 'x'.repeat(6000) });
    await expectPage(await authorize({ client_id: big }), 'larger than 5120 bytes');
    client.routes.set('/text.json', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>'));
    await expectPage(await authorize({ client_id: `${client.url}/text.json` }), 'is not JSON');
    client.routes.set('/moved.json', (res) => res.writeHead(302, { location: `${client.url}/good.json` }).end());
    await expectPage(await authorize({ client_id: `${client.url}/moved.json` }), 'redirects');
    client.json('/other.json', { client_id: `${client.url}/good.json`, redirect_uris: [redirectUri] });
    await expectPage(await authorize({ client_id: `${client.url}/other.json` }), 'another client_id');
    client.json('/secret.json', {
      client_id: `${client.url}/secret.json`,
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'private_key_jwt',
    });
    await expectPage(await authorize({ client_id: `${client.url}/secret.json` }), 'only public clients');
    await expectPage(await authorize({ client_id: 'https://10.0.0.1/client.json' }), 'does not reach');
    await expectPage(await authorize({ client_id: 'http://app.example.com/client.json' }), 'must be an https URL');
    await expectPage(await authorize({ client_id: `${client.url}/` }), 'with a path');
  });

  it('the token endpoint refuses unknown codes, secrets from public clients and missing parameters', async () => {
    const base = { grant_type: 'authorization_code', client_id: clientId, redirect_uri: redirectUri, code_verifier: pkce().verifier };
    const unknown = await tokenCall(v.url, { ...base, code: 'x'.repeat(43) });
    expect([unknown.status, unknown.body.error]).toEqual([400, 'invalid_grant']);
    const secret = await tokenCall(v.url, { ...base, code: 'x'.repeat(43), client_secret: 's' });
    expect([secret.status, secret.body.error]).toEqual([401, 'invalid_client']);
    const noVerifier = await tokenCall(v.url, {
      grant_type: 'authorization_code',
      client_id: clientId,
      redirect_uri: redirectUri,
      code: 'c',
    });
    expect([noVerifier.status, noVerifier.body.error]).toEqual([400, 'invalid_request']);
    const refresh = await tokenCall(v.url, { grant_type: 'refresh_token', client_id: clientId, refresh_token: 'nope' });
    expect([refresh.status, refresh.body.error]).toEqual([400, 'invalid_grant']);
    const [audit] = await v.db.ds.query(
      `SELECT outcome, reason FROM vault.audit_events WHERE action = 'token.authorization_code' ORDER BY seq LIMIT 1`,
    );
    expect(audit).toEqual({ outcome: 'denied', reason: 'invalid_grant' });
  });

  it('a registered client unused for OAUTH_CLIENT_UNUSED_DAYS expires', async () => {
    const reg = await register({ client_name: 'Old', redirect_uris: [redirectUri] });
    expect(reg.status).toBe(201);
    await expectSignIn(await authorize({ client_id: reg.body.client_id }));
    await v.db.ds.query(`UPDATE vault.oauth_clients SET last_used_at = now() - interval '31 days' WHERE client_id = $1`, [
      reg.body.client_id,
    ]);
    await expectPage(await authorize({ client_id: reg.body.client_id }), 'expired unused');
  });

  it('a DCR flood is rate limited per address: 429 with Retry-After', async () => {
    let last;
    for (let i = 0; i < 8; i++) {
      last = await register({ redirect_uris: ['https://app.example.com/cb'] });
      if (last.status === 429) break;
    }
    expect(last!.status).toBe(429);
    expect(last!.body.error).toBe('rate_limited');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
