import { PolicyDeniedError, VaultClient } from '../../libs/sdk/index';
import { AgentIdentityWorld, K8S_ISSUER, startWorld } from './support';

/**
 * Issue 18 "Done when": the SDK authenticates an agent with a federated credential — a
 * Kubernetes service account token, no secret anywhere — for a user's release (token exchange)
 * and for the agent's own tenant-level release (jwt-bearer grant).
 */
describe('agent identities: the SDK with a federated assertion, end to end', () => {
  let w: AgentIdentityWorld;
  const sent: string[] = [];

  beforeAll(async () => {
    w = await startWorld();
    await w.put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await w.put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-sdk-fed' });
    await w.put('/v1/admin/integrations/search', { provider: 'api_key', level: 'tenant' });
    await w.put('/v1/admin/connections/search/tenant', { api_key: 'tenant-search-sdk' });
    await w.put('/v1/admin/agents/k8s-runner', {
      name: 'runner',
      federated_credentials: [{ issuer: K8S_ISSUER, subject: 'system:serviceaccount:agents:mcp-runner' }],
    });
    await w.put('/v1/admin/policies/runner', { agents: ['k8s-runner'], integrations: ['openai', 'search'], effect: 'allow' });
  });
  afterAll(() => w?.close());

  const client = () =>
    new VaultClient({
      url: w.v.url,
      clientId: 'k8s-runner',
      // What a pod reads from its projected token volume, fresh each time.
      federatedAssertion: () => w.k8s.serviceAccountToken('agents', 'mcp-runner'),
      fetch: async (input, init) => {
        if (typeof init?.body === 'string') sent.push(init.body);
        return fetch(input, init);
      },
    });

  it("releases a user's credential and the agent's own tenant-level one, with no secret", async () => {
    const vault = client();
    expect(vault.authMethod).toBe('federated');
    expect(await vault.release('openai', { userToken: w.userToken('alice') })).toEqual({
      integration: 'openai',
      type: 'api_key',
      api_key: 'sk-alice-sdk-fed',
    });
    expect(await vault.release('search', { asAgent: true })).toEqual({
      integration: 'search',
      type: 'api_key',
      api_key: 'tenant-search-sdk',
    });
    const own = await vault.agentToken({ integrations: ['search'] });
    expect(own.scopes).toEqual(['connections:search']);
    // The agent's own token is for tenant-level connections only: a per-user integration is left out.
    expect((await vault.agentToken({ integrations: ['openai', 'search'] })).scopes).toEqual(['connections:search']);
    await expect(vault.agentToken({ integrations: ['openai'] })).rejects.toBeInstanceOf(PolicyDeniedError);

    const forms = sent.map((b) => new URLSearchParams(b));
    expect(forms.map((f) => f.get('grant_type'))).toEqual(
      expect.arrayContaining(['urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:jwt-bearer']),
    );
    for (const f of forms) expect(f.has('client_secret')).toBe(false);
    const [exchange] = await w.audit('token.exchange');
    expect(exchange.details).toMatchObject({ client_auth: 'federation', client_issuer: K8S_ISSUER });
  });

  it('needs the assertion provider for federated authentication and for agentToken', async () => {
    expect(() => new VaultClient({ url: w.v.url, clientId: 'x', authMethod: 'federated' })).toThrow('federatedAssertion');
    await expect(new VaultClient({ url: w.v.url, clientId: 'x', clientSecret: 's' }).agentToken()).rejects.toThrow('federatedAssertion');
  });
});
