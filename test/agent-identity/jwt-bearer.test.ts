import { randomUUID } from 'node:crypto';
import {
  ACCESS_TOKEN_TYPE,
  AgentIdentityWorld,
  basic,
  claimsOf,
  JWT_BEARER_GRANT,
  startWorld,
  TENANT,
  TOKEN_ENDPOINT,
  TOKEN_EXCHANGE_GRANT,
  VAULT,
  VAULT_APP_ID_URI,
} from './support';

/**
 * Issue 18 §2: `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1). With the agent's
 * own federated token as `assertion` it yields a vault token for the agent itself (tenant-level
 * connections, policy on the agent alone); with `requested_token_use=on_behalf_of` and a user's
 * token (Microsoft's OBO request, as MSAL sends it) it is a token exchange.
 */
describe('agent identities: the jwt-bearer grant', () => {
  let w: AgentIdentityWorld;
  let secret: string;
  const blueprintAppId = randomUUID();
  const agentOid = randomUUID();
  const agentAssertion = (extra: Record<string, unknown> = {}) => w.entra.agentToken({ oid: agentOid, blueprintAppId }, extra);

  beforeAll(async () => {
    w = await startWorld();
    await w.put('/v1/admin/integrations/search', { provider: 'api_key', level: 'tenant' });
    await w.put('/v1/admin/connections/search/tenant', { api_key: 'tenant-search-key-c3' });
    await w.put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await w.put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-obo-canary' });
    await w.put('/v1/admin/integrations/crm', { provider: 'api_key', level: 'tenant' });
    await w.put('/v1/admin/connections/crm/tenant', { api_key: 'crm-key' });
    await w.put('/v1/admin/agents/foundry-agent', {
      name: 'Foundry agent',
      federated_credentials: [
        { issuer: w.entra.issuer.issuer, subject: agentOid, audiences: [VAULT_APP_ID_URI], claims: { azp: blueprintAppId } },
      ],
    });
    secret = (await w.put('/v1/admin/agents/mcp-obo', { name: 'OBO server', auth_method: 'client_secret_post' })).client_secret;
    await w.put('/v1/admin/policies/agents', { agents: ['foundry-agent', 'mcp-obo'], integrations: ['search', 'openai'], effect: 'allow' });
    // Names users: never applies to an agent acting for itself.
    await w.put('/v1/admin/policies/crm-for-sales', {
      agents: ['foundry-agent'],
      integrations: ['crm'],
      effect: 'allow',
      users: { roles_any: ['sales'] },
    });
  });
  afterAll(() => w?.close());

  describe('the agent acting for itself', () => {
    it('exchanges its own Entra token for a vault token (sub = agent, no user) that releases tenant-level connections', async () => {
      const res = await w.token({ grant_type: JWT_BEARER_GRANT, assertion: agentAssertion(), scope: 'connections:search' });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body).toEqual({
        access_token: expect.any(String),
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: 300,
        scope: 'connections:search',
      });
      const claims = claimsOf(res.body.access_token);
      expect(claims).toMatchObject({
        iss: VAULT,
        aud: VAULT,
        sub: 'foundry-agent',
        act: { sub: 'foundry-agent' },
        agent_only: true,
        client_id: 'foundry-agent',
        tid: TENANT,
      });
      const release = await w.v.call('POST', '/v1/connections/search/token', { token: res.body.access_token });
      expect([release.status, release.body.api_key]).toEqual([200, 'tenant-search-key-c3']);
      const [event] = await w.audit('token.issue');
      expect(event).toMatchObject({ outcome: 'allowed', agent: 'foundry-agent', subject: null });
      expect(event.details).toMatchObject({
        grant: JWT_BEARER_GRANT,
        client_auth: 'federation',
        client_issuer: w.entra.issuer.issuer,
        agent_only: true,
        granted: ['connections:search'],
        policies: ['agents'],
        jti: claims.jti,
      });
    });

    it('leaves out per-user integrations and policies that name users; nothing left → invalid_scope, audited', async () => {
      const res = await w.token({
        grant_type: JWT_BEARER_GRANT,
        assertion: agentAssertion(),
        scope: 'connections:search connections:openai connections:crm',
      });
      expect([res.status, res.body.scope]).toEqual([200, 'connections:search']);
      const [event] = await w.audit('token.issue');
      expect(event.details.refused).toEqual(
        expect.arrayContaining([
          { scope: 'connections:openai', reason: 'user_level_integration', policy: null },
          { scope: 'connections:crm', reason: 'policy_denied', policy: null },
        ]),
      );
      const none = await w.token({ grant_type: JWT_BEARER_GRANT, assertion: agentAssertion(), scope: 'connections:openai' });
      expect([none.status, none.body.error]).toEqual([400, 'invalid_scope']);
      const [refusal] = await w.audit('token.issue');
      expect(refusal).toMatchObject({ outcome: 'denied', reason: 'invalid_scope', agent: 'foundry-agent' });
    });

    it('an agent-only token cannot release a per-user connection, nor stand in for a user at exchange or OBO', async () => {
      // However it was obtained: a token marked agent_only is refused on a per-user integration.
      const forged = w.v.issuer.sign({ sub: 'alice', tid: TENANT, act: { sub: 'mcp-obo' }, agent_only: true, scope: 'connections:openai' });
      const release = await w.v.call('POST', '/v1/connections/openai/token', { token: forged });
      expect([release.status, release.body.code]).toEqual([403, 'policy_denied']);
      const own = (await w.token({ grant_type: JWT_BEARER_GRANT, assertion: agentAssertion(), scope: 'connections:search' })).body
        .access_token;
      const exchange = await w.token({
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: own,
        subject_token_type: ACCESS_TOKEN_TYPE,
        scope: 'connections:openai',
        client_id: 'mcp-obo',
        client_secret: secret,
      });
      expect([exchange.status, exchange.body.error]).toEqual([400, 'invalid_request']);
      expect(exchange.body.error_description).toContain("agent's own token");
    });

    it('refuses an untrusted or mismatching assertion (invalid_grant) and client authentication naming another agent', async () => {
      const cases: Array<[Record<string, string>, number, string]> = [
        [{ assertion: 'not-a-jwt' }, 400, 'invalid_grant'],
        [{ assertion: w.v.issuer.sign({ sub: 'nobody', tid: 'x y' }) }, 400, 'invalid_grant'],
        [{ assertion: agentAssertion({ azp: randomUUID() }) }, 400, 'invalid_grant'],
        [{ assertion: agentAssertion({ aud: VAULT }) }, 400, 'invalid_grant'],
        [{ assertion: agentAssertion(), client_id: 'mcp-obo' }, 400, 'invalid_grant'],
        [{ assertion: agentAssertion(), client_id: 'mcp-obo', client_secret: secret }, 400, 'invalid_grant'],
        [{ assertion: agentAssertion(), requested_token_use: 'something' }, 400, 'invalid_request'],
        [{}, 400, 'invalid_request'],
      ];
      for (const [params, status, error] of cases) {
        const res = await w.token({ grant_type: JWT_BEARER_GRANT, scope: 'connections:search', ...params });
        expect([res.status, res.body.error]).toEqual([status, error]);
      }
      const other = await w.token(
        { grant_type: JWT_BEARER_GRANT, scope: 'connections:search', assertion: agentAssertion() },
        basic('mcp-obo', 'wrong'),
      );
      expect([other.status, other.body.error]).toEqual([401, 'invalid_client']);
    });

    it('an assertion for an agent that authenticates with a secret is refused with the reason named, once verified', async () => {
      // sub == client_id of mcp-obo, aud = the token endpoint: the sub == client_id rule, for an agent with a secret.
      const forObo = w.entra.agentToken({ oid: 'mcp-obo', blueprintAppId }, { aud: TOKEN_ENDPOINT });
      const res = await w.token({ grant_type: JWT_BEARER_GRANT, scope: 'connections:search', assertion: forObo });
      expect([res.status, res.body.error]).toEqual([400, 'invalid_grant']);
      expect(res.body.error_description).toContain('client_secret_post');
      expect(res.body.error_description).toContain('auth_method "none"');
      expect(JSON.stringify(res.body)).not.toContain(secret);
      // Not verified (signature altered): nothing about the agent is told.
      const [h, p, sig] = forObo.split('.');
      const forged = `${h}.${p}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
      const refused = await w.token({ grant_type: JWT_BEARER_GRANT, scope: 'connections:search', assertion: forged });
      expect([refused.status, refused.body.error]).toEqual([400, 'invalid_grant']);
      expect(refused.body.error_description).not.toContain('client_secret');
      // No agent under that sub: said so after verification.
      const nobody = w.entra.agentToken({ oid: 'no-such-agent', blueprintAppId }, { aud: TOKEN_ENDPOINT });
      const none = await w.token({ grant_type: JWT_BEARER_GRANT, scope: 'connections:search', assertion: nobody });
      expect([none.status, none.body.error_description]).toEqual([400, 'assertion sub names no registered agent']);
    });
  });

  describe('on behalf of a user (Microsoft OBO, as MSAL acquireTokenOnBehalfOf sends it)', () => {
    /**
     * The form MSAL Node's OnBehalfOfClient posts (createTokenRequestBody) for acquireTokenOnBehalfOf with a
     * client secret: its library, telemetry and throttling parameters included, OIDC scopes added to the request's.
     */
    const msalForm = (assertion: string) => ({
      client_id: 'mcp-obo',
      scope: 'connections:openai openid profile offline_access',
      grant_type: JWT_BEARER_GRANT,
      client_info: '1',
      'x-client-SKU': 'msal.js.node',
      'x-client-VER': '2.16.2',
      'x-client-OS': 'linux',
      'x-client-CPU': 'x64',
      'x-ms-lib-capability': 'retry-after, h429',
      'x-client-current-telemetry': '5|523,0,,,|,',
      'x-client-last-telemetry': '5|0|||0,0',
      'client-request-id': randomUUID(),
      requested_token_use: 'on_behalf_of',
      assertion,
      client_secret: secret,
    });

    it('behaves as token exchange with the assertion as subject token; OIDC scopes MSAL adds are left out', async () => {
      const res = await w.token(msalForm(w.userToken('alice')));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'connections:openai', expires_in: 300 });
      const claims = claimsOf(res.body.access_token);
      expect(claims).toMatchObject({ iss: VAULT, aud: VAULT, sub: 'alice', act: { sub: 'mcp-obo' }, client_id: 'mcp-obo' });
      expect(claims.agent_only).toBeUndefined();
      const release = await w.v.call('POST', '/v1/connections/openai/token', { token: res.body.access_token });
      expect([release.status, release.body.api_key]).toEqual([200, 'sk-alice-obo-canary']);
      const [event] = await w.audit('token.issue');
      expect(event).toMatchObject({ outcome: 'allowed', agent: 'mcp-obo', subject: 'alice' });
      expect(event.details).toMatchObject({
        grant: JWT_BEARER_GRANT,
        on_behalf_of: true,
        client_auth: 'client_secret_post',
        granted: ['connections:openai'],
      });
      expect(event.details.refused.map((r: { reason: string }) => r.reason)).toEqual(['unknown_scope', 'unknown_scope', 'unknown_scope']);
    });

    it('a token that already has an actor (an agent token) as assertion → invalid_grant, audited', async () => {
      const agentToken = w.v.issuer.sign({ sub: 'alice', tid: TENANT, act: { sub: 'someone' }, scope: 'connections:openai' });
      const res = await w.token(msalForm(agentToken));
      expect([res.status, res.body.error]).toEqual([400, 'invalid_grant']);
      expect(res.body.error_description).toContain('act');
      const [event] = await w.audit('token.issue');
      expect(event).toMatchObject({ outcome: 'denied', reason: 'invalid_grant', agent: null, subject: 'alice' });
      expect(event.details).toMatchObject({ grant: JWT_BEARER_GRANT, on_behalf_of: true, claimed_client_id: 'mcp-obo' });
      const expired = w.v.issuer.sign({ sub: 'alice', tid: TENANT }, { ttl: -120 });
      expect((await w.token(msalForm(expired))).body.error).toBe('invalid_grant');
    });

    it('a wrong client secret is invalid_client, as for token exchange', async () => {
      const res = await w.token({ ...msalForm(w.userToken('alice')), client_secret: 'wrong' });
      expect([res.status, res.body.error]).toEqual([401, 'invalid_client']);
    });
  });

  it('the authorization server metadata lists the grant', async () => {
    const res = await w.v.call('GET', '/.well-known/oauth-authorization-server');
    // The full list is asserted in test/token-service/issuance.test.ts; here: both of these are in it.
    expect(res.body.grant_types_supported).toEqual(expect.arrayContaining([TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT]));
  });
});
