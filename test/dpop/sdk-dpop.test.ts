import { VaultClient } from '../../libs/sdk';
import { RevocationWorld, startRevocationWorld, TENANT } from '../revocation/support';
import { PUBLIC_URL } from './support';

/**
 * End to end with the SDK (issue 18 "Done when"): an agent with no secret — it authenticates with
 * a federated assertion from a trusted issuer (`auth_method: none`) — and DPoP: the SDK generates
 * the key, sends a proof at the token endpoint and one per release; the vault binds the token.
 */
describe('SDK with a federated credential and DPoP', () => {
  let w: RevocationWorld;
  beforeAll(async () => {
    w = await startRevocationWorld();
    const res = await w.v.call('PUT', '/v1/admin/agents/mcp-fed', {
      token: w.admin(),
      body: { name: 'Federated MCP', auth_method: 'none', dpop_bound: true },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ auth_method: 'none', dpop_bound: true });
    expect(res.body.client_secret).toBeUndefined();
    await w.v.call('PUT', '/v1/admin/policies/fed-openai', {
      token: w.admin(),
      body: { agents: ['mcp-fed'], integrations: ['openai'], effect: 'allow' },
    });
  });
  afterAll(() => w?.close());

  const assertion = () => w.v.issuer.sign({ sub: 'mcp-fed', tid: TENANT, aud: `${PUBLIC_URL}/oauth2/token` }, { ttl: 120 });

  it('exchanges with a DPoP proof (token_type DPoP) and releases with proofs, twice, without a secret', async () => {
    const vault = new VaultClient({ url: w.v.url, publicUrl: PUBLIC_URL, clientId: 'mcp-fed', clientAssertion: assertion, dpop: true });
    const token = await vault.exchange(w.user('alice'), { integrations: ['openai'] });
    expect(token.tokenType).toBe('DPoP');
    expect(JSON.parse(Buffer.from(token.accessToken.split('.')[1], 'base64url').toString()).cnf.jkt).toEqual(expect.any(String));
    // API keys are not cached by default: each call is a release with its own proof.
    expect(await vault.accessToken('openai', { userToken: w.user('alice') })).toBe('sk-alice-canary');
    expect(await vault.accessToken('openai', { vaultToken: token.accessToken })).toBe('sk-alice-canary');
    const rows = await w.v.db.ds.query(
      `SELECT outcome, agent, details FROM vault.audit_events WHERE action = 'credential.release' AND agent = 'mcp-fed' ORDER BY seq`,
    );
    expect(rows.map((r: { outcome: string }) => r.outcome)).toEqual(['allowed', 'allowed']);
    const [exchange] = await w.v.db.ds.query(
      `SELECT details FROM vault.audit_events WHERE action = 'token.exchange' AND agent = 'mcp-fed' AND outcome = 'allowed' LIMIT 1`,
    );
    expect(exchange.details).toMatchObject({ client_auth: 'federation', dpop_jkt: expect.any(String) });
  });

  it('without DPoP the dpop_bound agent gets no token', async () => {
    const vault = new VaultClient({ url: w.v.url, publicUrl: PUBLIC_URL, clientId: 'mcp-fed', clientAssertion: assertion });
    await expect(vault.exchange(w.user('alice'), { integrations: ['openai'] })).rejects.toMatchObject({ vaultCode: 'invalid_dpop_proof' });
  });

  it("a bound token used by a client with another key is refused (the proof's key is not the token's)", async () => {
    const holder = new VaultClient({ url: w.v.url, publicUrl: PUBLIC_URL, clientId: 'mcp-fed', clientAssertion: assertion, dpop: true });
    const thief = new VaultClient({ url: w.v.url, publicUrl: PUBLIC_URL, clientId: 'mcp-fed', clientAssertion: assertion, dpop: true });
    const token = await holder.exchange(w.user('bob'), { integrations: ['openai'] });
    await expect(thief.accessToken('openai', { vaultToken: token.accessToken })).rejects.toMatchObject({
      vaultCode: 'invalid_dpop_proof',
      status: 401,
    });
  });
});
