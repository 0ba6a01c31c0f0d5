import { generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import {
  ConnectionNotFoundError,
  InvalidTokenError,
  NeedsReauthError,
  OAuthRelease,
  PolicyDeniedError,
  VaultClient,
} from '../../libs/sdk/index';
import { connectOverHttp, PUBLIC } from '../connect/support';
import { breakGrant, countingFetch, SdkWorld, startSdkWorld } from './support';

/**
 * The SDK against the running vault: a real token exchange, real releases (API key and OAuth,
 * the latter connected through the real connect flow at a real authorization server), and the
 * vault's real refusals surfacing as typed errors.
 */
describe('@credential-vault/sdk against the real vault', () => {
  let w: SdkWorld;
  const client = (extra: Partial<ConstructorParameters<typeof VaultClient>[0]> = {}) =>
    new VaultClient({ url: w.rig.v.url, clientId: 'mcp-1', clientSecret: w.secret, ...extra });
  const releasesAudited = async (user: string, integration: string): Promise<number> =>
    Number(
      (
        await w.rig.v.db.ds.query(
          `SELECT count(*) AS n FROM vault.audit_events WHERE action = 'credential.release' ` +
            `AND outcome = 'allowed' AND subject = $1 AND integration = $2`,
          [user, integration],
        )
      )[0].n,
    );

  beforeAll(async () => {
    w = await startSdkWorld();
  });
  afterAll(() => w?.close());

  it('exchanges the user token (client_secret_basic) and releases the API key', async () => {
    const token = await client().exchange(w.userToken('alice'), { integrations: ['openai'] });
    expect(token.scopes).toEqual(['connections:openai']);
    expect(token.expiresAt.getTime()).toBeGreaterThan(Date.now());
    const claims = JSON.parse(Buffer.from(token.accessToken.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ iss: PUBLIC, sub: 'alice', act: { sub: 'mcp-1' }, scope: 'connections:openai' });

    const release = await client().release('openai', { userToken: w.userToken('alice') });
    expect(release).toEqual({ integration: 'openai', type: 'api_key', api_key: 'sk-alice-openai' });
    expect(await client().release('openai', { vaultToken: token.accessToken })).toEqual(release);
  });

  it('client_secret_post and private_key_jwt work against the real token service too', async () => {
    const v = w.rig.v;
    const put = (path: string, body: unknown) => v.call('PUT', path, { token: w.rig.admin(), body });
    const post = (await put('/v1/admin/agents/mcp-post', { name: 'post', auth_method: 'client_secret_post' })).body.client_secret;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await put('/v1/admin/agents/mcp-jwt', {
      name: 'jwt',
      auth_method: 'private_key_jwt',
      jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] },
    });
    await put('/v1/admin/policies/others-openai', { agents: ['mcp-post', 'mcp-jwt'], integrations: ['openai'], effect: 'allow' });

    const viaPost = new VaultClient({ url: v.url, clientId: 'mcp-post', clientSecret: post, authMethod: 'client_secret_post' });
    const viaJwt = new VaultClient({ url: v.url, clientId: 'mcp-jwt', privateKey, keyId: 'k1', publicUrl: PUBLIC });
    expect(await viaPost.accessToken('openai', { userToken: w.userToken('alice') })).toBe('sk-alice-openai');
    expect(await viaJwt.accessToken('openai', { userToken: w.userToken('alice') })).toBe('sk-alice-openai');
    // Each call signs a new assertion: the vault accepts each jti once.
    viaJwt.clear();
    expect(await viaJwt.accessToken('openai', { userToken: w.userToken('alice') })).toBe('sk-alice-openai');
  });

  it('releases the OAuth access token and reuses it: the second call makes no request and no release is audited', async () => {
    const counted = countingFetch();
    const c = client({ fetch: counted.fetch });
    const userToken = w.userToken('alice');
    const before = await releasesAudited('alice', 'calendar');

    const first = (await c.release('calendar', { userToken })) as OAuthRelease;
    expect(first).toMatchObject({
      integration: 'calendar',
      type: 'oauth2',
      token_type: 'Bearer',
      scopes: expect.arrayContaining(['calendar.read']),
    });
    expect(Date.parse(first.expires_at!)).toBeGreaterThan(Date.now());
    expect(counted.calls).toEqual(['/oauth2/token', '/v1/connections/calendar/token']);

    const again = await Promise.all([c.release('calendar', { userToken }), c.accessToken('calendar', { userToken })]);
    expect(again[0]).toBe(first);
    expect(again[1]).toBe(first.access_token);
    expect(counted.calls).toHaveLength(2);
    expect(await releasesAudited('alice', 'calendar')).toBe(before + 1);
  });

  it('concurrent first calls: one exchange and one release', async () => {
    const counted = countingFetch();
    const c = client({ fetch: counted.fetch, apiKeyCacheSeconds: 60 });
    const userToken = w.userToken('alice');
    const keys = await Promise.all(Array.from({ length: 10 }, () => c.accessToken('openai', { userToken })));
    expect(new Set(keys)).toEqual(new Set(['sk-alice-openai']));
    expect(counted.calls).toEqual(['/oauth2/token', '/v1/connections/openai/token']);
  });

  it(
    'an integration in no policy → PolicyDeniedError at exchange (invalid_scope); a deny policy → PolicyDeniedError at ' + 'release',
    async () => {
      const atExchange = await client()
        .release('github', { userToken: w.userToken('alice') })
        .catch((e: unknown) => e);
      expect(atExchange).toBeInstanceOf(PolicyDeniedError);
      expect(atExchange).toMatchObject({ code: 'policy_denied', status: 400, vaultCode: 'invalid_scope' });

      const token = await client().exchange(w.userToken('alice'), { integrations: ['openai'] });
      await w.rig.v.call('PUT', '/v1/admin/policies/no-alice-openai', {
        token: w.rig.admin(),
        body: { agents: ['*'], integrations: ['openai'], users: { subjects: ['alice'] }, effect: 'deny' },
      });
      try {
        const atRelease = await client()
          .release('openai', { vaultToken: token.accessToken })
          .catch((e: unknown) => e);
        expect(atRelease).toBeInstanceOf(PolicyDeniedError);
        expect(atRelease).toMatchObject({
          code: 'policy_denied',
          status: 403,
          vaultCode: 'policy_denied',
          integration: 'openai',
          requestId: expect.any(String),
        });
      } finally {
        await w.rig.v.call('DELETE', '/v1/admin/policies/no-alice-openai', { token: w.rig.admin() });
      }
    },
  );

  it('a user with no connection → ConnectionNotFoundError with the connect URL the vault offers', async () => {
    const err = await client()
      .release('calendar', { userToken: w.userToken('zoe') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionNotFoundError);
    expect(err).toMatchObject({
      code: 'connection_not_found',
      status: 404,
      connectUrl: expect.stringMatching(/^https:\/\/vault\.test\.example\/connect\//),
    });
  });

  it('a grant the provider revoked → NeedsReauthError carrying connect_url; no credential cached', async () => {
    await connectOverHttp(w.rig, 'bob');
    await breakGrant(w, 'bob');
    const c = client();
    const err = (await c.release('calendar', { userToken: w.userToken('bob') }).catch((e: unknown) => e)) as NeedsReauthError;
    expect(err).toBeInstanceOf(NeedsReauthError);
    expect(err).toMatchObject({ code: 'needs_reauth', status: 409, integration: 'calendar' });
    expect(err.connectUrl).toMatch(/^https:\/\/vault\.test\.example\/connect\/[A-Za-z0-9_-]{43}$/);
    expect(inspect(err)).not.toContain(w.secret);
    // Still refused on the next call (the refusal was not cached as a success, nor the error forever).
    await expect(c.release('calendar', { userToken: w.userToken('bob') })).rejects.toBeInstanceOf(NeedsReauthError);
  });

  it('an expired user token → InvalidTokenError; a wrong client secret → invalid_client', async () => {
    const expired = w.rig.v.issuer.sign({ sub: 'alice', tid: 'acme' }, { ttl: -120 });
    await expect(client().release('openai', { userToken: expired })).rejects.toBeInstanceOf(InvalidTokenError);
    const wrong = await new VaultClient({ url: w.rig.v.url, clientId: 'mcp-1', clientSecret: 'not-the-secret' })
      .release('openai', { userToken: w.userToken('alice') })
      .catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: 'invalid_client', status: 401 });
    expect(JSON.stringify(wrong) + inspect(wrong)).not.toContain('not-the-secret');
  });
});
