import { generateKeyPairSync, verify } from 'node:crypto';
import { inspect } from 'node:util';
import { InvalidTokenError, OAuthRelease, VaultClient } from './index';
import { fakeJwt, FakeVault, SeenRequest } from './spec/fake-vault';

const SECRET = 'client-secret-do-not-print';
const USER_TOKEN = fakeJwt({ sub: 'alice', tid: 'acme', marker: 'user-token-do-not-print' });

describe('VaultClient against a local HTTP server', () => {
  let vault: FakeVault;
  let now: number;
  let issued: number;
  const client = (extra: Partial<ConstructorParameters<typeof VaultClient>[0]> = {}) =>
    new VaultClient({ url: vault.url, clientId: 'mcp-1', clientSecret: SECRET, now: () => now, ...extra });

  /** The vault's token endpoint and release path, issuing distinct vault tokens for alice. */
  const happyRoutes = (release: (req: SeenRequest) => unknown) => (req: SeenRequest) => {
    if (req.path === '/oauth2/token') {
      const form = new URLSearchParams(req.body);
      issued += 1;
      const access_token = fakeJwt({
        iss: 'https://vault',
        tid: 'acme',
        sub: 'alice',
        act: { sub: 'mcp-1' },
        client_id: 'mcp-1',
        n: issued,
        exp: Math.floor(now / 1000) + 120,
      });
      return {
        status: 200,
        body: {
          access_token,
          token_type: 'Bearer',
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          expires_in: 120,
          scope: form.get('scope'),
        },
      };
    }
    return { status: 200, body: release(req) };
  };
  const oauth =
    (expiresInMs: number, token = 'at-1') =>
    () => ({
      integration: 'calendar',
      type: 'oauth2',
      access_token: token,
      token_type: 'Bearer',
      expires_at: new Date(now + expiresInMs).toISOString(),
      scopes: ['calendar.read'],
      metadata: {},
    });

  beforeEach(async () => {
    now = Date.UTC(2026, 0, 1);
    issued = 0;
    vault = await new FakeVault().start();
  });
  afterEach(() => vault.close());

  it('exchanges the user token as RFC 8693 asks, with client_secret_basic, then releases with the vault token', async () => {
    vault.route = happyRoutes(oauth(3600_000));
    const r = (await client().release('calendar', { userToken: USER_TOKEN })) as OAuthRelease;
    expect(r).toMatchObject({ integration: 'calendar', type: 'oauth2', access_token: 'at-1', scopes: ['calendar.read'] });

    const [ex, rel] = vault.seen;
    expect(ex.headers.authorization).toBe(`Basic ${Buffer.from(`mcp-1:${SECRET}`).toString('base64')}`);
    expect(Object.fromEntries(new URLSearchParams(ex.body))).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: USER_TOKEN,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'connections:calendar',
    });
    expect([rel.method, rel.path, rel.body]).toEqual(['POST', '/v1/connections/calendar/token', '']);
    expect(rel.headers.authorization).toMatch(/^Bearer ey/);
  });

  it('client_secret_post puts the credentials in the form; downscoping sends { scopes }', async () => {
    vault.route = happyRoutes(oauth(3600_000));
    await client({ authMethod: 'client_secret_post' }).release('calendar', { userToken: USER_TOKEN }, { scopes: ['calendar.read'] });
    const form = new URLSearchParams(vault.seen[0].body);
    expect([form.get('client_id'), form.get('client_secret'), vault.seen[0].headers.authorization]).toEqual(['mcp-1', SECRET, undefined]);
    expect(JSON.parse(vault.seen[1].body)).toEqual({ scopes: ['calendar.read'] });
  });

  it('private_key_jwt: a one-minute ES256 assertion for <publicUrl>/oauth2/token, verifiable with the public key', async () => {
    vault.route = happyRoutes(oauth(3600_000));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await new VaultClient({
      url: vault.url,
      clientId: 'mcp-1',
      privateKey: pem,
      keyId: 'k1',
      publicUrl: 'https://vault.example',
      now: () => now,
    }).exchange(USER_TOKEN, { integrations: ['calendar'] });
    const form = new URLSearchParams(vault.seen[0].body);
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const [h, p, s] = form.get('client_assertion')!.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    expect(header).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'k1' });
    expect(claims).toMatchObject({ iss: 'mcp-1', sub: 'mcp-1', aud: 'https://vault.example/oauth2/token', jti: expect.any(String) });
    expect(claims.exp - claims.iat).toBe(60);
    const ok = verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
    expect(ok).toBe(true);
  });

  it('caches the access token until expiry minus skew, and the exchanged token until shortly before its exp', async () => {
    vault.route = happyRoutes(oauth(600_000));
    const c = client({ expirySkewSeconds: 30 });
    await c.release('calendar', { userToken: USER_TOKEN });
    now += 60_000;
    expect((await c.release('calendar', { userToken: USER_TOKEN })).type).toBe('oauth2');
    expect([vault.count('/oauth2/token'), vault.count('/v1/')]).toEqual([1, 1]);
    now += 31_000; // vault token (120 s) now inside its 30 s skew: exchanged again; access token still good
    await c.release('calendar', { userToken: USER_TOKEN });
    expect([vault.count('/oauth2/token'), vault.count('/v1/')]).toEqual([2, 1]);
    now += 600_000 - 91_000 - 29_000; // 29 s before the access token expires
    await c.release('calendar', { userToken: USER_TOKEN });
    expect(vault.count('/v1/')).toBe(2);
  });

  it('single flight: 25 concurrent identical releases make one exchange and one release', async () => {
    let open!: () => void;
    const gate = new Promise((r) => (open = () => r(undefined)));
    const routes = happyRoutes(oauth(3600_000));
    vault.route = (req) => ({ ...routes(req), hold: gate });
    const c = client();
    const all = Promise.all(Array.from({ length: 25 }, () => c.accessToken('calendar', { userToken: USER_TOKEN })));
    setTimeout(open, 50);
    expect(new Set(await all)).toEqual(new Set(['at-1']));
    expect([vault.count('/oauth2/token'), vault.count('/v1/')]).toEqual([1, 1]);
  });

  it('API keys are asked for every time unless apiKeyCacheSeconds says otherwise', async () => {
    vault.route = happyRoutes(() => ({ integration: 'openai', type: 'api_key', api_key: 'sk-1' }));
    const plain = client();
    await plain.accessToken('openai', { userToken: USER_TOKEN });
    await plain.accessToken('openai', { userToken: USER_TOKEN });
    expect(vault.count('/v1/')).toBe(2);
    const caching = client({ apiKeyCacheSeconds: 60 });
    await caching.accessToken('openai', { userToken: USER_TOKEN });
    await caching.accessToken('openai', { userToken: USER_TOKEN });
    now += 61_000;
    await caching.accessToken('openai', { userToken: USER_TOKEN });
    expect(vault.count('/v1/')).toBe(4);
  });

  it('another user token claiming the same subject is exchanged, never answered from the cache', async () => {
    vault.route = happyRoutes(oauth(3600_000));
    const c = client();
    await c.release('calendar', { userToken: USER_TOKEN });
    vault.route = (req) =>
      req.path === '/oauth2/token'
        ? { status: 400, body: { error: 'invalid_request', error_description: 'subject_token is invalid: bad signature' } }
        : { status: 500 };
    const forged = fakeJwt({ sub: 'alice', tid: 'acme' });
    await expect(c.release('calendar', { userToken: forged })).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('with { vaultToken } the token is used as it is, and cached by the exact token', async () => {
    vault.route = happyRoutes(oauth(3600_000));
    const c = client();
    const token = fakeJwt({ sub: 'alice', act: { sub: 'mcp-1' }, exp: Math.floor(now / 1000) + 300 });
    await c.release('calendar', { vaultToken: token });
    await c.release('calendar', { vaultToken: token });
    await c.release('calendar', {
      vaultToken: fakeJwt({ sub: 'alice', act: { sub: 'mcp-1' }, exp: Math.floor(now / 1000) + 300, other: 1 }),
    });
    expect([vault.count('/oauth2/token'), vault.count('/v1/')]).toEqual([0, 2]);
    expect(vault.seen[0].headers.authorization).toBe(`Bearer ${token}`);
  });

  it('a cached vault token the vault now refuses is exchanged again, once', async () => {
    let refuse = false;
    const routes = happyRoutes(() => ({ integration: 'openai', type: 'api_key', api_key: 'sk-1' }));
    vault.route = (req) =>
      refuse && req.path.startsWith('/v1/')
        ? { status: 401, body: { code: 'invalid_token', status: 401, detail: 'signature' } }
        : routes(req);
    const c = client();
    await c.release('openai', { userToken: USER_TOKEN });
    refuse = true;
    await expect(c.release('openai', { userToken: USER_TOKEN })).rejects.toBeInstanceOf(InvalidTokenError);
    // cached token refused → fresh exchange → refused again → the error surfaces (no loop)
    expect([vault.count('/oauth2/token'), vault.count('/v1/')]).toEqual([2, 3]);
  });

  it('forget(integration) drops the cached credential', async () => {
    vault.route = happyRoutes(oauth(3600_000));
    const c = client();
    await c.release('calendar', { userToken: USER_TOKEN });
    c.forget('calendar');
    await c.release('calendar', { userToken: USER_TOKEN });
    expect(vault.count('/v1/')).toBe(2);
  });

  it('never prints its secrets: client, released values and tokens redact themselves in inspect', async () => {
    vault.route = happyRoutes(oauth(3600_000, 'at-do-not-print'));
    const c = client();
    const token = await c.exchange(USER_TOKEN, { integrations: ['calendar'] });
    const r = await c.release('calendar', { userToken: USER_TOKEN });
    for (const shown of [
      inspect(c, { showHidden: true, depth: 5 }),
      JSON.stringify(c),
      String(c),
      inspect(r),
      inspect(token),
      inspect({ nested: [r, token] }),
    ]) {
      expect(shown).not.toContain(SECRET);
      expect(shown).not.toContain('do-not-print');
      expect(shown).not.toContain(token.accessToken);
    }
    expect(inspect(r)).toContain('[REDACTED]');
    expect(JSON.parse(JSON.stringify(r)).access_token).toBe('at-do-not-print'); // serialising a release is deliberate
    expect(Object.isFrozen(r)).toBe(true);
  });
});
