import { randomUUID } from 'node:crypto';
import { AgentIdentityWorld, claimsOf, JWT_BEARER_GRANT, startWorld, VAULT_APP_ID_URI } from '../agent-identity/support';
import { DpopKey } from './support';

/**
 * `dpop_bound` holds for every grant of the token endpoint (issue 18 §2 and §5 together): the
 * agent's token for itself (jwt-bearer with its own federated token) and on behalf of a user.
 */
describe('DPoP with the jwt-bearer grants', () => {
  let w: AgentIdentityWorld;
  let secret: string;
  let key: DpopKey;
  const blueprintAppId = randomUUID();
  const agentOid = randomUUID();
  const agentAssertion = () => w.entra.agentToken({ oid: agentOid, blueprintAppId });

  beforeAll(async () => {
    w = await startWorld();
    key = await DpopKey.create();
    await w.put('/v1/admin/integrations/search', { provider: 'api_key', level: 'tenant' });
    await w.put('/v1/admin/connections/search/tenant', { api_key: 'tenant-search-key' });
    await w.put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await w.put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice' });
    await w.put('/v1/admin/agents/foundry-agent', {
      name: 'Foundry agent',
      dpop_bound: true,
      federated_credentials: [
        { issuer: w.entra.issuer.issuer, subject: agentOid, audiences: [VAULT_APP_ID_URI], claims: { azp: blueprintAppId } },
      ],
    });
    secret = (await w.put('/v1/admin/agents/mcp-obo', { name: 'OBO', auth_method: 'client_secret_post', dpop_bound: true })).client_secret;
    await w.put('/v1/admin/policies/agents', { agents: ['foundry-agent', 'mcp-obo'], integrations: ['search', 'openai'], effect: 'allow' });
  });
  afterAll(() => w?.close());

  it('the agent for itself: no proof → invalid_dpop_proof; with one → a bound token that releases only with proofs', async () => {
    const params = { grant_type: JWT_BEARER_GRANT, assertion: agentAssertion(), scope: 'connections:search' };
    const refused = await w.token(params);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_dpop_proof');
    const res = await w.token({ ...params, assertion: agentAssertion() }, { dpop: await key.proof('POST', '/oauth2/token') });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
    expect(claimsOf(res.body.access_token)).toMatchObject({ agent_only: true, cnf: { jkt: key.jkt } });
    const path = '/v1/connections/search/token';
    const bearer = await w.v.call('POST', path, { token: res.body.access_token });
    expect([bearer.status, bearer.body.code]).toEqual([401, 'invalid_token']);
    const bound = await w.v.call('POST', path, {
      headers: { authorization: `DPoP ${res.body.access_token}`, dpop: await key.proof('POST', path, res.body.access_token) },
    });
    expect([bound.status, bound.body.api_key]).toEqual([200, 'tenant-search-key']);
  });

  it('on behalf of a user: no proof → invalid_dpop_proof; with one → a bound token', async () => {
    const params = {
      grant_type: JWT_BEARER_GRANT,
      requested_token_use: 'on_behalf_of',
      assertion: w.userToken('alice'),
      scope: 'connections:openai',
      client_id: 'mcp-obo',
      client_secret: secret,
    };
    expect((await w.token(params)).body.error).toBe('invalid_dpop_proof');
    const res = await w.token(params, { dpop: await key.proof('POST', '/oauth2/token') });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
    expect(claimsOf(res.body.access_token).cnf).toEqual({ jkt: key.jkt });
  });

  it('a policy requiring DPoP holds for the agent acting for itself, though the agent is not registered dpop_bound', async () => {
    const oid = randomUUID();
    await w.put('/v1/admin/agents/foundry-plain', {
      name: 'Foundry agent, not dpop_bound',
      federated_credentials: [
        { issuer: w.entra.issuer.issuer, subject: oid, audiences: [VAULT_APP_ID_URI], claims: { azp: blueprintAppId } },
      ],
    });
    await w.put('/v1/admin/policies/plain-search', {
      agents: ['foundry-plain'],
      integrations: ['search'],
      effect: 'allow',
      require_dpop: true,
    });
    const params = () => ({
      grant_type: JWT_BEARER_GRANT,
      assertion: w.entra.agentToken({ oid, blueprintAppId }),
      scope: 'connections:search',
    });
    const refused = await w.token(params());
    expect([refused.status, refused.body.error]).toEqual([400, 'invalid_dpop_proof']);
    expect(refused.body.error_description).toContain('plain-search');
    const res = await w.token(params(), { dpop: await key.proof('POST', '/oauth2/token') });
    expect([res.status, res.body.token_type]).toEqual([200, 'DPoP']);
    expect(claimsOf(res.body.access_token)).toMatchObject({ agent_only: true, cnf: { jkt: key.jkt } });
  });
});
