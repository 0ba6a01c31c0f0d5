import { TestIssuer } from '../support/issuer';
import {
  AgentKey,
  AUDIENCE,
  auditEvents,
  basic,
  decode,
  exchange,
  exchangeParams,
  JWT_BEARER,
  put,
  startWorld,
  TENANT,
  TOKEN_ENDPOINT,
  TokenServiceWorld,
} from './support';

/**
 * Agents authenticate at POST /oauth2/token by every supported method, exchange a user's
 * token from a real OpenID provider, and the token they get releases a credential.
 */
describe('token exchange: client authentication', () => {
  let w: TokenServiceWorld;
  const secrets: Record<string, string> = {};
  const jwtKey = new AgentKey();
  const CANARY = 'sk-alice-canary-51c0';

  beforeAll(async () => {
    w = await startWorld({ alice: { tid: TENANT, roles: ['staff'] } });
    await put(w, '/v1/admin/integrations/openai', { provider: 'api_key' });
    secrets['mcp-basic'] = (
      await put(w, '/v1/admin/agents/mcp-basic', { name: 'basic', auth_method: 'client_secret_basic' })
    ).client_secret;
    secrets['mcp-post'] = (await put(w, '/v1/admin/agents/mcp-post', { name: 'post', auth_method: 'client_secret_post' })).client_secret;
    await put(w, '/v1/admin/agents/mcp-jwt', { name: 'jwt', auth_method: 'private_key_jwt', jwks: { keys: [jwtKey.publicJwk] } });
    await put(w, '/v1/admin/agents/mcp-fed', { name: 'federated', auth_method: 'none' });
    await put(w, '/v1/admin/policies/agents-openai', {
      agents: ['mcp-basic', 'mcp-post', 'mcp-jwt', 'mcp-fed'],
      integrations: ['openai'],
      effect: 'allow',
    });
    await put(w, '/v1/admin/connections/openai/users/alice', { api_key: CANARY });
  });
  afterAll(() => w?.close());

  const userToken = () => w.idp.userToken('alice');

  /** The exchanged token works on the release path exactly like an external one. */
  async function releases(accessToken: string, agent: string) {
    const claims = decode(accessToken).payload;
    expect(claims).toMatchObject({
      iss: AUDIENCE,
      aud: AUDIENCE,
      sub: 'alice',
      tid: TENANT,
      act: { sub: agent },
      client_id: agent,
      scope: 'connections:openai',
    });
    const res = await w.v.call('POST', '/v1/connections/openai/token', { token: accessToken });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ integration: 'openai', type: 'api_key', api_key: CANARY });
  }

  it('client_secret_basic: RFC 8693 response, no-store, a vault JWT that releases the key', async () => {
    const res = await exchange(w, exchangeParams(await userToken(), 'connections:openai'), basic('mcp-basic', secrets['mcp-basic']));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toEqual({
      access_token: expect.any(String),
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'connections:openai',
    });
    const { header, payload } = decode(res.body.access_token);
    expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
    expect(payload.exp - payload.iat).toBe(300);
    expect(payload.jti).toEqual(expect.any(String));
    await releases(res.body.access_token, 'mcp-basic');
  });

  it('client_secret_post', async () => {
    const res = await exchange(
      w,
      exchangeParams(await userToken(), 'connections:openai', { client_id: 'mcp-post', client_secret: secrets['mcp-post'] }),
    );
    expect(res.status).toBe(200);
    await releases(res.body.access_token, 'mcp-post');
  });

  it('private_key_jwt (RFC 7523), with aud = the token endpoint or the issuer', async () => {
    for (const aud of [TOKEN_ENDPOINT, AUDIENCE]) {
      const res = await exchange(
        w,
        exchangeParams(await userToken(), 'connections:openai', {
          client_assertion_type: JWT_BEARER,
          client_assertion: jwtKey.assertion('mcp-jwt', { aud }),
        }),
      );
      expect(res.status).toBe(200);
      await releases(res.body.access_token, 'mcp-jwt');
    }
  });

  it('federation: a token about the agent from a trusted issuer, audience = the token endpoint', async () => {
    const assertion = w.v.issuer.sign({ sub: 'mcp-fed', tid: TENANT, aud: TOKEN_ENDPOINT });
    const res = await exchange(
      w,
      exchangeParams(await userToken(), 'connections:openai', { client_assertion_type: JWT_BEARER, client_assertion: assertion }),
    );
    expect(res.status).toBe(200);
    await releases(res.body.access_token, 'mcp-fed');
    // Workload identity tokens are reused until they expire: no jti bookkeeping for federation.
    const again = await exchange(
      w,
      exchangeParams(await userToken(), 'connections:openai', { client_assertion_type: JWT_BEARER, client_assertion: assertion }),
    );
    expect(again.status).toBe(200);
    const [event] = await auditEvents(w);
    expect(event.details).toMatchObject({ client_auth: 'federation', client_issuer: w.v.issuer.issuer });
  });

  it('wrong client secret → 401 invalid_client with a Basic challenge, audited without the secret', async () => {
    const wrong = 'wrong-secret-canary-0d5e';
    const res = await exchange(w, exchangeParams(await userToken(), 'connections:openai'), basic('mcp-basic', wrong));
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'invalid_client', error_description: expect.any(String) });
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(res.headers.get('content-type')).toContain('application/json');
    const [event] = await auditEvents(w);
    expect(event).toMatchObject({ outcome: 'denied', reason: 'invalid_client', agent: null, subject: 'alice' });
    expect(event.details.claimed_client_id).toBe('mcp-basic');
    const all = JSON.stringify(await w.v.db.ds.query(`SELECT * FROM vault.audit_events`));
    expect(all).not.toContain(wrong);
    expect(all).not.toContain(secrets['mcp-basic']);
    expect(all).not.toContain(CANARY);
  });

  it("unknown client, empty secret, another agent's secret, or a method the agent is not registered for → invalid_client", async () => {
    const subject = await userToken();
    const attempts = [
      exchange(w, exchangeParams(subject, 'connections:openai'), basic('nobody', secrets['mcp-basic'])),
      exchange(w, exchangeParams(subject, 'connections:openai'), basic('mcp-basic', secrets['mcp-post'])),
      exchange(w, exchangeParams(subject, 'connections:openai', { client_id: 'mcp-basic', client_secret: secrets['mcp-basic'] })),
      exchange(w, exchangeParams(subject, 'connections:openai'), basic('mcp-post', secrets['mcp-post'])),
      exchange(w, exchangeParams(subject, 'connections:openai', { client_id: 'mcp-post' })),
      exchange(w, exchangeParams(subject, 'connections:openai')),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
    }
  });

  it('two authentication methods at once → invalid_request', async () => {
    const res = await exchange(
      w,
      exchangeParams(await userToken(), 'connections:openai', { client_id: 'mcp-basic', client_secret: secrets['mcp-basic'] }),
      basic('mcp-basic', secrets['mcp-basic']),
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('a replayed private_key_jwt assertion → invalid_client', async () => {
    const assertion = jwtKey.assertion('mcp-jwt');
    const params = { client_assertion_type: JWT_BEARER, client_assertion: assertion };
    expect((await exchange(w, exchangeParams(await userToken(), 'connections:openai', params))).status).toBe(200);
    const replay = await exchange(w, exchangeParams(await userToken(), 'connections:openai', params));
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual({ error: 'invalid_client', error_description: 'client assertion was already used' });
    const rows = await w.v.db.ds.query(
      `SELECT count(*)::int AS n FROM vault.client_assertion_jtis WHERE client_id = 'mcp-jwt' AND jti = $1`,
      [decode(assertion).payload.jti],
    );
    expect(rows[0].n).toBe(1);
  });

  it('private_key_jwt assertions that must fail: wrong key, wrong audience, expired, no jti, too long-lived, iss ≠ sub', async () => {
    const now = Math.floor(Date.now() / 1000);
    const other = new AgentKey();
    const bad = [
      other.assertion('mcp-jwt'), // a key the agent did not register (unknown kid)
      jwtKey.assertion('mcp-jwt', { aud: 'https://elsewhere.example/token' }),
      jwtKey.assertion('mcp-jwt', { iat: now - 600, exp: now - 300 }),
      jwtKey.assertion('mcp-jwt', { jti: undefined }),
      jwtKey.assertion('mcp-jwt', { exp: now + 3600 }),
      jwtKey.assertion('mcp-basic'), // an agent that is not registered for private_key_jwt
    ];
    for (const assertion of bad) {
      const res = await exchange(
        w,
        exchangeParams(await userToken(), 'connections:openai', { client_assertion_type: JWT_BEARER, client_assertion: assertion }),
      );
      expect([res.status, res.body.error]).toEqual([401, 'invalid_client']);
    }
  });

  it("federation refuses a user token for the vault, the vault's own tokens, another tenant, and untrusted issuers", async () => {
    const stranger = new TestIssuer('https://untrusted.example');
    const vaultToken = (
      await exchange(w, exchangeParams(await userToken(), 'connections:openai'), basic('mcp-basic', secrets['mcp-basic']))
    ).body.access_token;
    const bad = [
      w.v.issuer.sign({ sub: 'mcp-fed', tid: TENANT }), // aud = the vault: what a user token looks like
      w.v.issuer.sign({ sub: 'mcp-fed', tid: 'globex', aud: TOKEN_ENDPOINT }),
      w.v.issuer.sign({ sub: 'mcp-basic', tid: TENANT, aud: TOKEN_ENDPOINT }), // not a federated agent
      w.v.issuer.sign({ sub: 'mcp-fed', tid: TENANT, aud: TOKEN_ENDPOINT, act: { sub: 'x' } }),
      stranger.sign({ sub: 'mcp-fed', tid: TENANT, aud: TOKEN_ENDPOINT }),
      vaultToken,
    ];
    for (const assertion of bad) {
      const res = await exchange(
        w,
        exchangeParams(await userToken(), 'connections:openai', { client_assertion_type: JWT_BEARER, client_assertion: assertion }),
      );
      expect([res.status, res.body.error]).toEqual([401, 'invalid_client']);
    }
  });

  it('secret rotation with overlap: old and new secrets both work until the overlap ends', async () => {
    const old = secrets['mcp-basic'];
    const rotated = await w.v.call('POST', '/v1/admin/agents/mcp-basic/secret', { token: w.admin(), body: { overlap_seconds: 600 } });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect(rotated.body).toEqual({
      client_id: 'mcp-basic',
      client_secret: expect.any(String),
      previous_secret_expires_at: expect.any(String),
    });
    const fresh = rotated.body.client_secret as string;
    expect(fresh).not.toBe(old);
    for (const secret of [old, fresh]) {
      expect((await exchange(w, exchangeParams(await userToken(), 'connections:openai'), basic('mcp-basic', secret))).status).toBe(200);
    }
    // The overlap ends: only the new secret is accepted.
    await w.v.db.ds.query(`UPDATE vault.agents SET previous_secret_expires_at = now() - interval '1 second' WHERE client_id = 'mcp-basic'`);
    expect((await exchange(w, exchangeParams(await userToken(), 'connections:openai'), basic('mcp-basic', old))).status).toBe(401);
    expect((await exchange(w, exchangeParams(await userToken(), 'connections:openai'), basic('mcp-basic', fresh))).status).toBe(200);
    // Rotation without overlap, and for agents without a secret.
    const noOverlap = await w.v.call('POST', '/v1/admin/agents/mcp-basic/secret', { token: w.admin(), body: { overlap_seconds: 0 } });
    expect(noOverlap.body.previous_secret_expires_at).toBeNull();
    expect((await exchange(w, exchangeParams(await userToken(), 'connections:openai'), basic('mcp-basic', fresh))).status).toBe(401);
    secrets['mcp-basic'] = noOverlap.body.client_secret;
    expect((await w.v.call('POST', '/v1/admin/agents/mcp-jwt/secret', { token: w.admin(), body: {} })).status).toBe(404);
    expect((await w.v.call('POST', '/v1/admin/agents/mcp-basic/secret', { token: w.admin(), body: { overlap_seconds: -1 } })).status).toBe(
      400,
    );
  });

  it('PUT of an agent without auth_method (the README renaming it) keeps its secret and keys; jwks alone is refused', async () => {
    const token = async () => exchange(w, exchangeParams(await userToken(), 'connections:openai'), basic('mcp-post-2', secret));
    const secret = (await put(w, '/v1/admin/agents/mcp-post-2', { name: 'two', auth_method: 'client_secret_basic' }))
      .client_secret as string;
    await put(w, '/v1/admin/policies/agents-openai-2', { agents: ['mcp-post-2'], integrations: ['openai'], effect: 'allow' });
    expect((await token()).status).toBe(200);

    const renamed = await w.v.call('PUT', '/v1/admin/agents/mcp-post-2', { token: w.admin(), body: { name: 'Renamed' } });
    // The answer describes the agent as GET lists it (no secret is issued again on a rename).
    expect([renamed.status, renamed.body]).toEqual([
      200,
      expect.objectContaining({ client_id: 'mcp-post-2', name: 'Renamed', auth_method: 'client_secret_basic' }),
    ]);
    expect(renamed.body).not.toHaveProperty('client_secret');
    expect((await token()).status).toBe(200);
    const jwtRenamed = await w.v.call('PUT', '/v1/admin/agents/mcp-jwt', { token: w.admin(), body: { name: 'jwt, renamed' } });
    expect(jwtRenamed.body.auth_method).toBe('private_key_jwt');
    expect((await w.v.call('GET', '/v1/admin/agents', { token: w.admin() })).body.agents).toContainEqual(
      expect.objectContaining({
        client_id: 'mcp-jwt',
        name: 'jwt, renamed',
        auth_method: 'private_key_jwt',
        jwks: { keys: [jwtKey.publicJwk] },
      }),
    );
    const changes = await w.v.db.ds.query(
      `SELECT details FROM vault.audit_events WHERE action = 'agent.put' AND agent = 'mcp-post-2' ORDER BY seq`,
    );
    expect(changes.map((e: { details: { auth_method: string } }) => e.details.auth_method)).toEqual(['client_secret_basic', 'unchanged']);

    const keysAlone = await w.v.call('PUT', '/v1/admin/agents/mcp-post-2', {
      token: w.admin(),
      body: { name: 'two', jwks: { keys: [jwtKey.publicJwk] } },
    });
    expect([keysAlone.status, keysAlone.body.code, keysAlone.body.errors]).toEqual([
      400,
      'validation_failed',
      [expect.objectContaining({ field: 'auth_method' })],
    ]);
    expect((await token()).status).toBe(200);

    // Saying so is a deliberate change: the secret goes.
    const none = await w.v.call('PUT', '/v1/admin/agents/mcp-post-2', { token: w.admin(), body: { name: 'two', auth_method: 'none' } });
    expect([none.status, none.body.auth_method]).toEqual([200, 'none']);
    expect((await token()).status).toBe(401);
    // A new agent without auth_method is `none`, as before.
    expect((await put(w, '/v1/admin/agents/mcp-new', { name: 'new' })).auth_method).toBe('none');
  });

  it('rate limiting: a burst of guesses for one client gets 429 with Retry-After, not audited', async () => {
    const before = (await auditEvents(w)).length;
    const subject = await userToken();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => exchange(w, exchangeParams(subject, 'connections:openai'), basic('mcp-post', `guess-${i}`))),
    );
    const limited = results.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(15);
    expect(results.filter((r) => r.status === 401).length).toBeGreaterThan(0);
    expect(limited[0].body).toEqual({ error: 'rate_limited', error_description: expect.any(String) });
    expect(Number(limited[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Refusals by the limiter cost no audit write; the attempts that got through are audited.
    expect((await auditEvents(w)).length - before).toBe(40 - limited.length);
  });
});
