import { TestIssuer } from '../support/issuer';
import {
  AUDIENCE,
  auditEvents,
  basic,
  decode,
  exchange as exchangeOnce,
  exchangeParams,
  put,
  startWorld,
  TENANT,
  TokenServiceWorld,
} from './support';

/**
 * This file makes ~40 exchanges as one client: more than the token endpoint's per-client bucket
 * (burst 20, 5/s) holds once the vault answers fast. The limiter is not what it tests (see
 * client-auth), so a 429 is waited out once, for as long as its Retry-After says.
 */
async function exchange(...args: Parameters<typeof exchangeOnce>): ReturnType<typeof exchangeOnce> {
  const first = await exchangeOnce(...args);
  if (first.status !== 429) return first;
  await new Promise((r) => setTimeout(r, Number(first.headers.get('retry-after') ?? 1) * 1000));
  return exchangeOnce(...args);
}

/**
 * Policy decided at issuance: what the token may hold is the policy's answer per scope for this
 * agent and this user (roles and groups from the real OpenID provider's token). Refused scopes
 * never enter the token; the release path re-checks.
 */
describe('token exchange: policy at issuance', () => {
  let w: TokenServiceWorld;
  let secret: string;
  const auth = () => basic('mcp-1', secret);

  beforeAll(async () => {
    // Clock skew 1 s so that a provider token with a 1 s lifetime expires within the test.
    w = await startWorld(
      {
        alice: { tid: TENANT, roles: ['sales'], groups: ['emea'] },
        bob: { tid: TENANT, roles: ['support'] },
        gina: { tid: 'globex', roles: ['sales'] },
      },
      { VAULT_CLOCK_SKEW_SECONDS: '1' },
    );
    for (const name of ['openai', 'crm', 'github', 'search']) await put(w, `/v1/admin/integrations/${name}`, { provider: 'api_key' });
    secret = (await put(w, '/v1/admin/agents/mcp-1', { name: 'MCP', auth_method: 'client_secret_basic' })).client_secret;
    await put(w, '/v1/admin/policies/mcp-openai', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow', max_ttl_seconds: 120 });
    await put(w, '/v1/admin/policies/sales-crm', {
      agents: ['*'],
      integrations: ['crm'],
      effect: 'allow',
      users: { roles_any: ['sales'] },
      max_ttl_seconds: 60,
    });
    await put(w, '/v1/admin/policies/emea-search', {
      agents: ['mcp-1'],
      integrations: ['search'],
      effect: 'allow',
      users: { roles_any: ['emea'] },
    });
    await put(w, '/v1/admin/policies/github-all', { agents: ['*'], integrations: ['github'], effect: 'allow' });
    await put(w, '/v1/admin/policies/github-not-mcp', { agents: ['mcp-1'], integrations: ['github'], effect: 'deny' });
    await put(w, '/v1/admin/connections/openai/users/alice', { api_key: 'sk-openai-alice' });
    await put(w, '/v1/admin/connections/crm/users/alice', { api_key: 'crm-alice' });
    await put(w, '/v1/admin/connections/github/users/alice', { api_key: 'gh-alice' });
  });
  afterAll(() => w?.close());

  const user = (name = 'alice') => w.idp.userToken(name);

  it('a scope outside policy is dropped: the granted set shrinks, the response says so, release refuses it', async () => {
    const res = await exchange(w, exchangeParams(await user(), 'connections:openai connections:github connections:slack openid'), auth());
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('connections:openai');
    const token = res.body.access_token;
    expect(decode(token).payload.scope).toBe('connections:openai');
    expect((await w.v.call('POST', '/v1/connections/openai/token', { token })).status).toBe(200);
    const github = await w.v.call('POST', '/v1/connections/github/token', { token });
    expect([github.status, github.body.code]).toEqual([403, 'scope_missing']);

    const [event] = await auditEvents(w);
    expect(event).toMatchObject({ outcome: 'allowed', agent: 'mcp-1', subject: 'alice' });
    expect(event.details).toMatchObject({
      client_auth: 'client_secret_basic',
      subject_issuer: w.idp.issuer,
      requested: ['connections:openai', 'connections:github', 'connections:slack', 'openid'],
      granted: ['connections:openai'],
      policies: ['mcp-openai'],
      refused: [
        { scope: 'connections:github', reason: 'policy_denied', policy: 'github-not-mcp' },
        { scope: 'connections:slack', reason: 'policy_denied', policy: null },
        { scope: 'openid', reason: 'unknown_scope', policy: null },
      ],
      jti: decode(token).payload.jti,
    });
  });

  it("roles and groups come from the provider's token: a user without the role loses that scope", async () => {
    const alice = await exchange(w, exchangeParams(await user('alice'), 'connections:openai connections:crm connections:search'), auth());
    expect(alice.body.scope).toBe('connections:openai connections:crm connections:search');
    // Logged with its inputs: the role and the group (from the provider's token) each allow matched on.
    const [aliceEvent] = await auditEvents(w);
    expect(aliceEvent.details.matched).toEqual([
      { policy: 'mcp-openai', effect: 'allow', roles: [], subject: false },
      { policy: 'sales-crm', effect: 'allow', roles: ['sales'], subject: false },
      { policy: 'emea-search', effect: 'allow', roles: ['emea'], subject: false },
    ]);
    const bob = await exchange(w, exchangeParams(await user('bob'), 'connections:openai connections:crm connections:search'), auth());
    expect(bob.status).toBe(200);
    expect(bob.body.scope).toBe('connections:openai');
    const [bobEvent] = await auditEvents(w);
    expect(bobEvent.details.matched).toEqual([{ policy: 'mcp-openai', effect: 'allow', roles: [], subject: false }]);
  });

  it('nothing granted → 400 invalid_scope, audited with the refusals', async () => {
    const res = await exchange(w, exchangeParams(await user('bob'), 'connections:crm'), auth());
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_scope', error_description: expect.any(String) });
    const [event] = await auditEvents(w);
    expect(event).toMatchObject({ outcome: 'denied', reason: 'invalid_scope', agent: 'mcp-1', subject: 'bob' });
    expect(event.details.refused).toEqual([{ scope: 'connections:crm', reason: 'policy_denied', policy: null }]);
    for (const scope of [undefined, '', '  ']) {
      const none = await exchange(w, exchangeParams(await user(), scope as string), auth());
      expect([none.status, none.body.error]).toEqual([400, 'invalid_scope']);
    }
  });

  it('lifetime = min(requested, policy cap, global cap 300 s)', async () => {
    const ttl = async (scope: string, expiresIn?: string) => {
      const res = await exchange(w, exchangeParams(await user(), scope, { expires_in: expiresIn }), auth());
      const { iat, exp } = decode(res.body.access_token).payload;
      expect(exp - iat).toBe(res.body.expires_in);
      return res.body.expires_in;
    };
    expect(await ttl('connections:search')).toBe(300);
    expect(await ttl('connections:search', '9999')).toBe(300);
    expect(await ttl('connections:openai')).toBe(120);
    expect(await ttl('connections:openai connections:crm')).toBe(60);
    expect(await ttl('connections:openai', '30')).toBe(30);
    const bad = await exchange(w, exchangeParams(await user(), 'connections:openai', { expires_in: '-5' }), auth());
    expect([bad.status, bad.body.error]).toEqual([400, 'invalid_request']);
  });

  it('resource/audience must name the vault, else invalid_target', async () => {
    const ok = await exchange(w, exchangeParams(await user(), 'connections:openai', { resource: AUDIENCE, audience: AUDIENCE }), auth());
    expect(ok.status).toBe(200);
    for (const extra of [
      { resource: 'https://api.other-service.example' },
      { audience: 'other-service' },
      { resource: [AUDIENCE, 'https://api.other-service.example'] },
    ]) {
      const res = await exchange(w, exchangeParams(await user(), 'connections:openai', extra), auth());
      expect([res.status, res.body.error]).toEqual([400, 'invalid_target']);
    }
  });

  it('a subject token from an untrusted issuer → invalid_request (RFC 8693), audited unattributed', async () => {
    const stranger = new TestIssuer('https://idp.untrusted.example');
    const res = await exchange(w, exchangeParams(stranger.sign({ sub: 'alice', tid: TENANT }), 'connections:openai'), auth());
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: 'subject_token is invalid: token issuer is not trusted' });
    const [event] = await auditEvents(w, '_unauthenticated');
    expect(event).toMatchObject({ outcome: 'denied', reason: 'invalid_request', agent: null, subject: null });
    expect(event.details.claimed_client_id).toBe('mcp-1');
  });

  it('an expired subject token from the provider → invalid_request', async () => {
    const shortLived = await w.idp.userToken('alice', { shortLived: true });
    const { exp } = decode(shortLived).payload;
    await new Promise((r) => setTimeout(r, Math.max(0, (exp + 2) * 1000 - Date.now()) + 100));
    const res = await exchange(w, exchangeParams(shortLived, 'connections:openai'), auth());
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: 'subject_token is invalid: token has expired' });
  });

  it('a subject token for another audience, or from another tenant than the agent → refused', async () => {
    const otherAud = w.v.issuer.sign({ sub: 'alice', tid: TENANT, aud: 'https://api.other-service.example' });
    const res = await exchange(w, exchangeParams(otherAud, 'connections:openai'), auth());
    expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
    // Agents are registered per tenant: mcp-1 does not exist in globex.
    const gina = await exchange(w, exchangeParams(await user('gina'), 'connections:openai'), auth());
    expect([gina.status, gina.body.error]).toEqual([401, 'invalid_client']);
  });

  it("the subject token's act is preserved, nested under the agent; the release path takes the outermost actor", async () => {
    const delegated = w.v.issuer.sign({
      sub: 'alice',
      tid: TENANT,
      act: { sub: 'orchestrator', act: { sub: 'planner' } },
      scope: 'connections:openai connections:crm',
    });
    const res = await exchange(w, exchangeParams(delegated, 'connections:openai connections:crm connections:search'), auth());
    expect(res.status).toBe(200);
    // A delegated subject token bounds the grant: search was not delegated.
    expect(res.body.scope).toBe('connections:openai');
    const { payload } = decode(res.body.access_token);
    expect(payload.act).toEqual({ sub: 'mcp-1', act: { sub: 'orchestrator', act: { sub: 'planner' } } });
    expect((await w.v.call('POST', '/v1/connections/openai/token', { token: res.body.access_token })).body.api_key).toBe('sk-openai-alice');
    // And a vault token can itself be exchanged again (delegation chains).
    const again = await exchange(w, exchangeParams(res.body.access_token, 'connections:openai'), auth());
    expect(decode(again.body.access_token).payload.act).toEqual({ sub: 'mcp-1', act: payload.act });
  });

  it('may_act and actor_token must name the authenticated agent', async () => {
    const allowed = w.v.issuer.sign({ sub: 'alice', tid: TENANT, may_act: { sub: 'mcp-1' } });
    expect((await exchange(w, exchangeParams(allowed, 'connections:openai'), auth())).status).toBe(200);
    const forOther = w.v.issuer.sign({ sub: 'alice', tid: TENANT, may_act: { sub: 'someone-else' } });
    expect((await exchange(w, exchangeParams(forOther, 'connections:openai'), auth())).body.error).toBe('invalid_request');

    const actorType = 'urn:ietf:params:oauth:token-type:jwt';
    const actor = w.v.issuer.sign({ sub: 'mcp-1', tid: TENANT });
    expect(
      (await exchange(w, exchangeParams(await user(), 'connections:openai', { actor_token: actor, actor_token_type: actorType }), auth()))
        .status,
    ).toBe(200);
    const wrongActor = w.v.issuer.sign({ sub: 'another-agent', tid: TENANT });
    const res = await exchange(
      w,
      exchangeParams(await user(), 'connections:openai', { actor_token: wrongActor, actor_token_type: actorType }),
      auth(),
    );
    expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
    const noType = await exchange(w, exchangeParams(await user(), 'connections:openai', { actor_token: actor }), auth());
    expect([noType.status, noType.body.error]).toEqual([400, 'invalid_request']);
  });

  it('malformed requests get OAuth errors (never problem+json) on this endpoint', async () => {
    const subject = await user();
    const cases: Array<[Record<string, string | string[]>, string]> = [
      [{ grant_type: 'client_credentials' }, 'unsupported_grant_type'],
      [{ ...exchangeParams(subject, 'connections:openai'), grant_type: '' }, 'invalid_request'],
      [{ ...exchangeParams(subject, 'connections:openai'), subject_token_type: 'urn:x' }, 'invalid_request'],
      [{ ...exchangeParams(subject, 'connections:openai'), subject_token: '' }, 'invalid_request'],
      [{ ...exchangeParams(subject, 'connections:openai'), scope: ['connections:openai', 'connections:crm'] }, 'invalid_request'],
      [
        { ...exchangeParams(subject, 'connections:openai'), requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
        'invalid_request',
      ],
      [{ ...exchangeParams(subject, 'connections:open\u0001ai') }, 'invalid_scope'],
    ];
    for (const [params, error] of cases) {
      const res = await exchange(w, params, auth());
      expect([res.status, res.body.error]).toEqual([400, error]);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    }
    const json = await fetch(`${w.v.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify(exchangeParams(subject, 'connections:openai')),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('x-www-form-urlencoded') });
  });

  it('publishes RFC 8414 and RFC 9728 metadata and the JWKS the tokens verify with', async () => {
    const as = (await (await fetch(`${w.v.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(as).toMatchObject({
      issuer: AUDIENCE,
      token_endpoint: `${AUDIENCE}/oauth2/token`,
      jwks_uri: `${AUDIENCE}/.well-known/jwks.json`,
      grant_types_supported: [
        'urn:ietf:params:oauth:grant-type:token-exchange',
        'urn:ietf:params:oauth:grant-type:jwt-bearer',
        'authorization_code',
        'refresh_token',
        'urn:openid:params:grant-type:ciba',
      ],
      backchannel_authentication_endpoint: `${AUDIENCE}/oauth2/bc-authorize`,
      backchannel_token_delivery_modes_supported: ['poll'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    });
    const pr = (await (await fetch(`${w.v.url}/.well-known/oauth-protected-resource`)).json()) as { authorization_servers: string[] };
    expect(pr).toMatchObject({ resource: AUDIENCE, bearer_methods_supported: ['header'] });
    expect(pr.authorization_servers[0]).toBe(AUDIENCE);
    expect(pr.authorization_servers).toEqual(expect.arrayContaining([w.v.issuer.issuer, w.idp.issuer]));
    const jwks = (await (await fetch(`${w.v.url}/.well-known/jwks.json`)).json()) as { keys: Array<Record<string, unknown>> };
    const token = (await exchange(w, exchangeParams(await user(), 'connections:openai'), auth())).body.access_token;
    const key = jwks.keys.find((k) => k.kid === decode(token).header.kid);
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(key?.d).toBeUndefined();
  });

  it(
    'the scope-ceiling rule at issuance (issue 14): a connections scope whose ceiling no release could honour is ' +
      'refused, naming the excess',
    async () => {
      const CAL = 'https://www.googleapis.com/auth/calendar';
      await put(w, '/v1/admin/integrations/gcal', {
        provider: 'google',
        client_id: 'g-client',
        client_secret: 'g-secret',
        scopes: ['openid', 'email', `${CAL}.readonly`, CAL],
      });
      await put(w, '/v1/admin/integrations/files', {
        provider: 'dropbox',
        client_id: 'd-client',
        client_secret: 'd-secret',
        scopes: ['files.content.read', 'files.content.write'],
      });
      // Google cannot narrow a token on refresh: a connection would hold openid (its identity) beyond the ceiling.
      await put(w, '/v1/admin/policies/gcal-read', {
        agents: ['mcp-1'],
        integrations: ['gcal'],
        scopes: [`${CAL}.readonly`],
        effect: 'allow',
      });
      // Dropbox can: the release will hand out a token for files.content.read only.
      await put(w, '/v1/admin/policies/files-read', {
        agents: ['mcp-1'],
        integrations: ['files'],
        scopes: ['files.content.read'],
        effect: 'allow',
      });
      const res = await exchange(w, exchangeParams(await user(), 'connections:gcal connections:files'), auth());
      expect(res.status).toBe(200);
      expect(res.body.scope).toBe('connections:files');
      const [event] = await auditEvents(w);
      expect(event.details.refused).toEqual([
        { scope: 'connections:gcal', reason: 'scope_exceeds_policy', policy: null, excess: ['openid'] },
      ]);
      // A ceiling the connection's scopes fit in is granted.
      await put(w, '/v1/admin/policies/gcal-read', {
        agents: ['mcp-1'],
        integrations: ['gcal'],
        scopes: ['openid', `${CAL}.readonly`],
        effect: 'allow',
      });
      expect((await exchange(w, exchangeParams(await user(), 'connections:gcal'), auth())).body.scope).toBe('connections:gcal');
    },
  );
});
