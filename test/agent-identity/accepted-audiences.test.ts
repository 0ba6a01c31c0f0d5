import {
  ACCESS_TOKEN_TYPE,
  AgentIdentityWorld,
  basic,
  claimsOf,
  JWT_BEARER_GRANT,
  startWorld,
  TENANT,
  TOKEN_EXCHANGE_GRANT,
  VAULT,
} from './support';

/**
 * Issue 18 §3: a remote MCP server receives the user's token for ITS audience (MCP spec) and
 * exchanges it at the vault without passing it through: accepted when `aud` holds VAULT_AUDIENCE
 * or one of the authenticated agent's `accepted_audiences`, never another agent's. §5b: every
 * 401 of the release route names the protected-resource metadata (RFC 9728 §5.1).
 */
describe('agent identities: accepted subject-token audiences', () => {
  let w: AgentIdentityWorld;
  const secrets: Record<string, string> = {};
  const MCP = 'https://mcp.example.com';
  const OTHER = 'https://other-mcp.example.com';

  beforeAll(async () => {
    w = await startWorld();
    await w.put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await w.put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-aud-canary' });
    for (const [id, audiences] of [
      ['mcp-a', [MCP]],
      ['mcp-b', [OTHER]],
      ['mcp-plain', undefined],
    ] as const) {
      const body = { name: id, auth_method: 'client_secret_basic', ...(audiences ? { accepted_audiences: audiences } : {}) };
      secrets[id] = (await w.put(`/v1/admin/agents/${id}`, body)).client_secret;
    }
    await w.put('/v1/admin/policies/mcps', { agents: ['mcp-a', 'mcp-b', 'mcp-plain'], integrations: ['openai'], effect: 'allow' });
  });
  afterAll(() => w?.close());

  const exchangeAs = (agent: string, subjectToken: string) =>
    w.token(
      { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'connections:openai' },
      basic(agent, secrets[agent]),
    );
  const mcpUserToken = (aud: unknown = MCP) => w.userToken('alice', { aud });

  it("the MCP server exchanges the user's token for its own audience; the vault token's aud is always the vault", async () => {
    const res = await exchangeAs('mcp-a', mcpUserToken());
    expect(res.status).toBe(200);
    expect(claimsOf(res.body.access_token)).toMatchObject({ aud: VAULT, sub: 'alice', act: { sub: 'mcp-a' }, tid: TENANT });
    const release = await w.v.call('POST', '/v1/connections/openai/token', { token: res.body.access_token });
    expect([release.status, release.body.api_key]).toEqual([200, 'sk-alice-aud-canary']);
    const [event] = await w.audit('token.exchange');
    expect(event.details).toMatchObject({ subject_audience: MCP });
    // An aud array holding the accepted audience is accepted too.
    expect((await exchangeAs('mcp-a', mcpUserToken(['https://unrelated.example', MCP]))).status).toBe(200);
    // OBO takes the same audiences.
    const obo = await w.token(
      { grant_type: JWT_BEARER_GRANT, requested_token_use: 'on_behalf_of', assertion: mcpUserToken(), scope: 'connections:openai' },
      basic('mcp-a', secrets['mcp-a']),
    );
    expect(obo.status).toBe(200);
    expect(claimsOf(obo.body.access_token).aud).toBe(VAULT);
  });

  it("never another agent's audiences, nor any audience for an agent without them; the vault's own always", async () => {
    for (const agent of ['mcp-b', 'mcp-plain']) {
      const res = await exchangeAs(agent, mcpUserToken());
      expect([res.status, res.body.error, res.body.error_description]).toEqual([
        400,
        'invalid_request',
        'subject_token is invalid: token audience is not accepted',
      ]);
    }
    const [event] = await w.audit('token.exchange');
    expect(event).toMatchObject({ outcome: 'denied', reason: 'invalid_request', agent: 'mcp-plain', subject: 'alice' });
    expect((await exchangeAs('mcp-b', w.userToken('alice'))).status).toBe(200);
    expect((await exchangeAs('mcp-b', mcpUserToken(OTHER))).status).toBe(200);
    // No aud at all is refused whoever asks.
    expect((await exchangeAs('mcp-a', w.userToken('alice', { aud: undefined }))).status).toBe(400);
  });

  it('everything else about the subject token is still checked (signature, expiry, issuer)', async () => {
    const expired = w.v.issuer.sign({ sub: 'alice', tid: TENANT, aud: MCP }, { ttl: -120 });
    const res = await exchangeAs('mcp-a', expired);
    expect([res.status, res.body.error_description]).toEqual([400, 'subject_token is invalid: token has expired']);
    const [h, p] = mcpUserToken().split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claimsOf(mcpUserToken()), sub: 'mallory' })).toString('base64url')}.${p}`;
    expect((await exchangeAs('mcp-a', tampered)).body.error_description).toMatch(/^subject_token is invalid/);
  });

  it("a token for the MCP server's audience is no vault token: 401 on release", async () => {
    const token = w.v.issuer.sign({ sub: 'alice', tid: TENANT, aud: MCP, act: { sub: 'mcp-a' }, scope: 'connections:openai' });
    const res = await w.v.call('POST', '/v1/connections/openai/token', { token });
    expect([res.status, res.body.code]).toEqual([401, 'invalid_token']);
  });

  it('every 401 of the release route carries the RFC 9728 resource_metadata challenge', async () => {
    const metadata = `${VAULT}/.well-known/oauth-protected-resource`;
    const none = await w.v.call('POST', '/v1/connections/openai/token');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadata}"`);
    for (const headers of [{ authorization: 'Bearer not.a.jwt' }, { authorization: 'Basic abc' }]) {
      const bad = await w.v.call('POST', '/v1/connections/openai/token', { headers });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", resource_metadata="${metadata}"`);
    }
    // The document is where the challenge says (under the vault's public URL; here, its listening address).
    const doc = await w.v.call('GET', '/.well-known/oauth-protected-resource');
    expect(doc.body).toMatchObject({ resource: VAULT, authorization_servers: expect.arrayContaining([VAULT]) });
  });
});
