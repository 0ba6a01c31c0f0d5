import { randomUUID } from 'node:crypto';
import { TestIssuer } from '../support/issuer';
import {
  ACCESS_TOKEN_TYPE,
  AgentIdentityWorld,
  claimsOf,
  JWT_BEARER_ASSERTION,
  K8S_ISSUER,
  startWorld,
  TENANT,
  TOKEN_EXCHANGE_GRANT,
  VAULT,
  VAULT_APP_ID_URI,
} from './support';

/**
 * Issue 18 §1: an agent registered with federated identity credentials (Entra's model) is
 * authenticated at the token endpoint by an assertion from a trusted issuer that matches one of
 * them — an Entra agent identity token or a Kubernetes service account token — with no secret.
 */
describe('agent identities: federated identity credentials', () => {
  let w: AgentIdentityWorld;
  const CANARY = 'sk-alice-fic-canary-93b1';
  const blueprintAppId = randomUUID();
  const otherBlueprint = randomUUID();
  const agentOid = randomUUID();
  const entraIss = () => w.entra.issuer.issuer;
  const entraCredential = (extra: Record<string, unknown> = {}) => ({
    issuer: entraIss(),
    subject: agentOid,
    audiences: [VAULT_APP_ID_URI],
    claims: { azp: blueprintAppId, idtyp: 'app' },
    ...extra,
  });

  beforeAll(async () => {
    w = await startWorld();
    await w.put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await w.put('/v1/admin/connections/openai/users/alice', { api_key: CANARY });
    await w.put('/v1/admin/agents/foundry-agent', {
      name: 'Foundry agent',
      auth_method: 'none',
      federated_credentials: [entraCredential()],
    });
    await w.put('/v1/admin/agents/k8s-runner', {
      name: 'runner in AKS',
      federated_credentials: [{ issuer: K8S_ISSUER, subject: 'system:serviceaccount:agents:mcp-runner' }],
    });
    await w.put('/v1/admin/policies/agents-openai', { agents: ['foundry-agent', 'k8s-runner'], integrations: ['openai'], effect: 'allow' });
  });
  afterAll(() => w?.close());

  const exchangeWith = (assertion: string, extra: Record<string, string> = {}) =>
    w.token({
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: w.userToken('alice'),
      subject_token_type: ACCESS_TOKEN_TYPE,
      scope: 'connections:openai',
      client_assertion_type: JWT_BEARER_ASSERTION,
      client_assertion: assertion,
      ...extra,
    });

  async function releasesFor(accessToken: string, agent: string) {
    expect(claimsOf(accessToken)).toMatchObject({ iss: VAULT, aud: VAULT, sub: 'alice', act: { sub: agent }, client_id: agent });
    const res = await w.v.call('POST', '/v1/connections/openai/token', { token: accessToken });
    expect([res.status, res.body.api_key]).toEqual([200, CANARY]);
  }

  it('an Entra agent identity token (GUID sub, azp = blueprint, aud = app ID URI) authenticates the agent: no secret stored', async () => {
    const res = await exchangeWith(w.entra.agentToken({ oid: agentOid, blueprintAppId }), { client_id: 'foundry-agent' });
    expect(res.status).toBe(200);
    await releasesFor(res.body.access_token, 'foundry-agent');
    // Without client_id too: the credential names the agent.
    const bare = await exchangeWith(w.entra.agentToken({ oid: agentOid, blueprintAppId }));
    expect(bare.status).toBe(200);
    const [event] = await w.audit('token.exchange');
    expect(event).toMatchObject({ outcome: 'allowed', agent: 'foundry-agent', subject: 'alice' });
    expect(event.details).toMatchObject({ client_auth: 'federation', client_issuer: entraIss() });
    const [row] = await w.v.db.ds.query(`SELECT secret_hash, auth_method FROM vault.agents WHERE client_id = 'foundry-agent'`);
    expect(row).toEqual({ secret_hash: null, auth_method: 'none' });
  });

  it('a Kubernetes service account token (audience: the token endpoint by default) authenticates its agent', async () => {
    const res = await exchangeWith(w.k8s.serviceAccountToken('agents', 'mcp-runner'));
    expect(res.status).toBe(200);
    await releasesFor(res.body.access_token, 'k8s-runner');
    // Another service account of the same cluster is not that agent.
    const other = await exchangeWith(w.k8s.serviceAccountToken('agents', 'someone-else'));
    expect([other.status, other.body.error]).toEqual([401, 'invalid_client']);
  });

  it('refuses assertions that differ in audience, a claim, issuer, tenant, or carry act — and a client_id of another agent', async () => {
    const stranger = new TestIssuer(entraIss().replace('login.', 'login2.'));
    const cases: Array<[string, string, Record<string, string>?]> = [
      [w.entra.agentToken({ oid: agentOid, blueprintAppId: otherBlueprint }), 'matches no federated credential'],
      [w.entra.agentToken({ oid: agentOid, blueprintAppId }, { aud: 'api://something-else' }), 'audience'],
      [w.entra.agentToken({ oid: agentOid, blueprintAppId }, { idtyp: 'user' }), 'matches no federated credential'],
      [w.entra.agentToken({ oid: agentOid, blueprintAppId }, { tid: 'globex' }), 'another tenant'],
      [w.entra.agentToken({ oid: agentOid, blueprintAppId }, { act: { sub: 'x' } }), 'act'],
      [w.entra.agentToken({ oid: agentOid, blueprintAppId }, {}, 2 * 24 * 3600), 'lifetime'],
      [stranger.sign({ sub: agentOid, aud: VAULT_APP_ID_URI, tid: TENANT, azp: blueprintAppId, idtyp: 'app' }), 'not trusted'],
      [w.entra.agentToken({ oid: agentOid, blueprintAppId }), 'client_id does not match', { client_id: 'k8s-runner' }],
    ];
    for (const [assertion, reason, extra] of cases) {
      const res = await exchangeWith(assertion, extra);
      expect([res.status, res.body.error]).toEqual([401, 'invalid_client']);
      expect(res.body.error_description).toContain(reason);
    }
  });

  it('an agent with credentials is no longer reached by the sub == client_id rule', async () => {
    const res = await exchangeWith(w.v.issuer.sign({ sub: 'foundry-agent', tid: TENANT, aud: `${VAULT}/oauth2/token` }));
    expect([res.status, res.body.error]).toEqual([401, 'invalid_client']);
  });

  it('several credentials per agent (rotation across issuers); an assertion matching two agents is refused', async () => {
    const cluster = { issuer: K8S_ISSUER, subject: 'system:serviceaccount:agents:shared' };
    await w.put('/v1/admin/agents/rotating', {
      name: 'rotating',
      federated_credentials: [entraCredential({ subject: randomUUID() }), cluster],
    });
    await w.put('/v1/admin/policies/more-agents-openai', { agents: ['rotating', 'copycat'], integrations: ['openai'], effect: 'allow' });
    const ok = await exchangeWith(w.k8s.serviceAccountToken('agents', 'shared'));
    expect(ok.status).toBe(200);
    expect(claimsOf(ok.body.access_token).act).toEqual({ sub: 'rotating' });

    await w.put('/v1/admin/agents/copycat', { name: 'copycat', federated_credentials: [cluster] });
    const twice = await exchangeWith(w.k8s.serviceAccountToken('agents', 'shared'));
    expect([twice.status, twice.body.error]).toEqual([401, 'invalid_client']);
    expect(twice.body.error_description).toContain('more than one agent');
    const [event] = await w.audit('token.exchange');
    expect(event).toMatchObject({ outcome: 'denied', reason: 'invalid_client', agent: null });
  });

  it('a disabled agent is refused at the token endpoint, and its tokens release nothing', async () => {
    const before = await exchangeWith(w.k8s.serviceAccountToken('agents', 'mcp-runner'));
    expect(before.status).toBe(200);
    await w.put('/v1/admin/agents/k8s-runner', { name: 'runner in AKS', disabled: true });
    const refused = await exchangeWith(w.k8s.serviceAccountToken('agents', 'mcp-runner'));
    expect([refused.status, refused.body.error, refused.body.error_description]).toEqual([
      401,
      'invalid_client',
      'this client is disabled',
    ]);
    const release = await w.v.call('POST', '/v1/connections/openai/token', { token: before.body.access_token });
    expect([release.status, release.body.code]).toEqual([403, 'not_an_agent_token']);
    // Enabled again: the credentials were kept.
    await w.put('/v1/admin/agents/k8s-runner', { name: 'runner in AKS', disabled: false });
    expect((await exchangeWith(w.k8s.serviceAccountToken('agents', 'mcp-runner'))).status).toBe(200);
  });

  it('PUT keeps credentials a body does not mention, replaces them when given, and lists them', async () => {
    await w.put('/v1/admin/agents/keeper', { name: 'keeper', federated_credentials: [entraCredential({ subject: 'keeper-oid' })] });
    await w.put('/v1/admin/agents/keeper', { name: 'keeper renamed' });
    const answered = await w.put('/v1/admin/agents/keeper', {
      name: 'keeper renamed',
      auth_method: 'none',
      accepted_audiences: ['https://mcp.example.com'],
    });
    const list = await w.v.call('GET', '/v1/admin/agents', { token: w.admin() });
    const keeper = list.body.agents.find((a: { client_id: string }) => a.client_id === 'keeper');
    // The PUT answer describes the agent as GET lists it.
    expect(answered).toEqual(keeper);
    expect(keeper).toMatchObject({
      name: 'keeper renamed',
      auth_method: 'none',
      federated_credentials: [
        { issuer: entraIss(), subject: 'keeper-oid', audiences: [VAULT_APP_ID_URI], claims: { azp: blueprintAppId } },
      ],
      accepted_audiences: ['https://mcp.example.com'],
      disabled: false,
    });
    await w.put('/v1/admin/agents/keeper', { name: 'keeper', federated_credentials: [] });
    const [row] = await w.v.db.ds.query(`SELECT federated_credentials FROM vault.agents WHERE client_id = 'keeper'`);
    expect(row.federated_credentials).toEqual([]);
    // A secret method replaces them (they are credentials of `none`).
    await w.put('/v1/admin/agents/keeper', { name: 'keeper', federated_credentials: [entraCredential({ subject: 'keeper-oid' })] });
    const withSecret = await w.put('/v1/admin/agents/keeper', { name: 'keeper', auth_method: 'client_secret_basic' });
    expect(withSecret).toMatchObject({
      client_id: 'keeper',
      auth_method: 'client_secret_basic',
      federated_credentials: [],
      disabled: false,
    });
    expect(withSecret.client_secret).toEqual(expect.any(String));
    expect(Object.keys(withSecret).filter((k) => k.includes('hash'))).toEqual([]);
    const [after] = await w.v.db.ds.query(`SELECT federated_credentials FROM vault.agents WHERE client_id = 'keeper'`);
    expect(after.federated_credentials).toEqual([]);
    const [put] = await w.audit('agent.put');
    expect(put.details).toMatchObject({ by: `admin@${TENANT}`, auth_method: 'client_secret_basic' });
  });

  it('bad credentials are refused with the field named', async () => {
    const bad: Array<[unknown, string]> = [
      [{ issuer: 'https://untrusted.example', subject: 'x' }, 'federated_credentials.0.issuer'],
      [{ issuer: K8S_ISSUER, subject: 'x', claims: { sub: 'y' } }, 'federated_credentials.0.claims.sub'],
      [
        { issuer: K8S_ISSUER, subject: 'x', claims: { 'kubernetes.io': { namespace: 'a' } } },
        'federated_credentials.0.claims.kubernetes.io',
      ],
      [{ issuer: K8S_ISSUER, subject: '' }, 'federated_credentials.subject'],
      [{ issuer: K8S_ISSUER, subject: 'x', audiences: 'aud' }, 'federated_credentials.audiences'],
      [{ issuer: K8S_ISSUER, subject: 'x', extra: 1 }, 'federated_credentials.extra'],
    ];
    for (const [credential, field] of bad) {
      const res = await w.v.call('PUT', '/v1/admin/agents/bad', {
        token: w.admin(),
        body: { name: 'bad', federated_credentials: [credential] },
      });
      expect([res.status, res.body.code]).toEqual([400, 'validation_failed']);
      // The schema names a field without the list index; the use case's own checks add it.
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const dup = { issuer: K8S_ISSUER, subject: 'x' };
    const twice = await w.v.call('PUT', '/v1/admin/agents/bad', {
      token: w.admin(),
      body: { name: 'bad', federated_credentials: [dup, dup] },
    });
    expect(twice.body.errors).toEqual([{ field: 'federated_credentials.1', message: 'repeats an earlier credential' }]);
    const secretAgent = await w.v.call('PUT', '/v1/admin/agents/bad', {
      token: w.admin(),
      body: { name: 'bad', auth_method: 'client_secret_post', federated_credentials: [dup] },
    });
    expect([secretAgent.status, secretAgent.body.errors[0].field]).toEqual([400, 'federated_credentials']);
    expect((await w.v.call('GET', '/v1/admin/agents', { token: w.admin() })).body.agents.map((a: any) => a.client_id)).not.toContain('bad');
  });
});
