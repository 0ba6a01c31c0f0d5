import { Keyring } from '../../libs/crypto';
import { KeyVaultEmulator } from '../support/keyvault-emulator';
import { startTestVault, TestVault } from '../support/vault';
import { parseMetrics, sample } from './support';

/**
 * `GET /metrics` after real traffic: each counter moved by exactly what the traffic caused —
 * releases by outcome and integration, denials by reason, release latency, Key Vault (key
 * provider) calls, tenant-key cache hits and misses, audit flushes against the rows in the
 * database, and the pool. Labels carry integration names and codes, never users or agents.
 */
describe('GET /metrics (Prometheus text) after traffic', () => {
  let v: TestVault;
  const T = 'acme';
  const API_KEY = 'sk-metrics-canary-4f1e';
  const admin = () => v.issuer.adminToken(T);
  const agentToken = (user: string, agent = 'mcp-1', integrations = ['openai']) =>
    v.issuer.agentToken({ tenant: T, user, agent, integrations });
  const scrape = async () => {
    const res = await v.call('GET', '/metrics');
    expect(res.status).toBe(200);
    return { text: res.text, m: parseMetrics(res.text), type: res.headers.get('content-type') };
  };
  const auditRows = async () => Number((await v.db.ds.query(`SELECT count(*)::int AS n FROM vault.audit_events`))[0].n);

  beforeAll(async () => {
    // Strict key health (a live read per readiness check and write), so the one readiness check
    // below is exactly one key provider call; by default readiness reads the keyring's known state.
    v = await startTestVault({ VAULT_KEY_HEALTH_TTL_MS: '0' });
    const a = admin();
    const put = async (path: string, body: unknown) => expect((await v.call('PUT', path, { token: a, body })).status).toBe(201);
    await put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await put('/v1/admin/agents/mcp-1', { name: 'allowed' });
    await put('/v1/admin/agents/mcp-2', { name: 'no policy' });
    await put('/v1/admin/policies/p1', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' });
    await put('/v1/admin/connections/openai/users/alice', { api_key: API_KEY });
  });
  afterAll(() => v?.close());

  it('counts releases, denials, latency, key provider calls, cache, audit and pool', async () => {
    const rowsBefore = await auditRows();
    const before = await scrape();
    expect(before.type).toMatch(/^text\/plain; version=0\.0\.4/);

    const statuses: number[] = [];
    const release = async (token: string | undefined, integration = 'openai') =>
      statuses.push((await v.call('POST', `/v1/connections/${integration}/token`, { token })).status);
    for (let i = 0; i < 3; i++) await release(agentToken('alice'));
    await release(agentToken('alice', 'mcp-2')); // policy_denied
    await release(agentToken('alice', 'mcp-2')); // policy_denied
    await release(agentToken('bob')); // connection_not_found
    await release(agentToken('alice', 'mcp-1', ['other']), 'openai'); // scope_missing: integration not verified
    await release('not.a.jwt'); // invalid_token
    expect(statuses).toEqual([200, 200, 200, 403, 403, 404, 403, 401]);
    expect((await v.call('GET', '/readyz')).status).toBe(200); // one key provider health check

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after.m, name, labels) - sample(before.m, name, labels);

    expect(delta('vault_releases_total', { outcome: 'released', integration: 'openai' })).toBe(3);
    expect(delta('vault_releases_total', { outcome: 'denied', integration: 'openai' })).toBe(3);
    expect(delta('vault_releases_total', { outcome: 'denied', integration: 'none' })).toBe(2);
    expect(delta('vault_release_denials_total', { reason: 'policy_denied' })).toBe(2);
    expect(delta('vault_release_denials_total', { reason: 'connection_not_found' })).toBe(1);
    expect(delta('vault_release_denials_total', { reason: 'scope_missing' })).toBe(1);
    expect(delta('vault_release_denials_total', { reason: 'invalid_token' })).toBe(1);
    expect(delta('vault_release_duration_seconds_count', { outcome: 'released' })).toBe(3);
    expect(delta('vault_release_duration_seconds_count', { outcome: 'denied' })).toBe(5);
    expect(delta('vault_release_duration_seconds_sum', { outcome: 'released' })).toBeGreaterThan(0);

    // Warm tenant-key cache: the releases' decryptions all hit.
    expect(delta('vault_tenant_key_cache_hits_total')).toBe(3);
    expect(delta('vault_tenant_key_cache_misses_total')).toBe(0);
    expect(delta('vault_key_provider_calls_total', { provider: 'local', operation: 'health', outcome: 'ok' })).toBe(1);
    const hits = sample(after.m, 'vault_tenant_key_cache_hits_total');
    const misses = sample(after.m, 'vault_tenant_key_cache_misses_total');
    expect(sample(after.m, 'vault_tenant_key_cache_hit_ratio')).toBeCloseTo(hits / (hits + misses), 6);

    // Every decision was audited (3 releases, 5 refusals, and whatever else the traffic records, such as
    // the connect session offered with the 404), and the flush metrics saw exactly the rows written.
    const written = (await auditRows()) - rowsBefore;
    expect(written).toBeGreaterThanOrEqual(8);
    expect(delta('vault_audit_events_committed_total')).toBe(written);
    expect(delta('vault_audit_flush_events_sum')).toBe(written);
    expect(delta('vault_audit_flush_duration_seconds_count', { outcome: 'committed' })).toBe(delta('vault_audit_flushes_total'));
    expect(delta('vault_audit_flushes_total')).toBeGreaterThanOrEqual(1);
    expect(sample(after.m, 'vault_audit_flush_failures_total')).toBe(0);
    expect(sample(after.m, 'vault_audit_queue_events')).toBe(0);

    expect(sample(after.m, 'vault_db_pool_max_connections')).toBe(10);
    expect(sample(after.m, 'vault_db_pool_connections')).toBeGreaterThanOrEqual(1);
    expect(sample(after.m, 'vault_db_pool_idle_connections')).toBeLessThanOrEqual(sample(after.m, 'vault_db_pool_connections'));
    expect(sample(after.m, 'vault_db_pool_waiting_requests')).toBe(0);
    expect(after.m.has('process_cpu_user_seconds_total')).toBe(true);
  });

  it('a cold tenant-key cache: one miss, one key provider unwrap (timed), then hits', async () => {
    v.vault.app.get(Keyring).cache.clear();
    const before = await scrape();
    for (let i = 0; i < 2; i++)
      expect((await v.call('POST', '/v1/connections/openai/token', { token: agentToken('alice') })).status).toBe(200);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after.m, name, labels) - sample(before.m, name, labels);
    expect(delta('vault_tenant_key_cache_misses_total')).toBe(1);
    expect(delta('vault_tenant_key_cache_hits_total')).toBe(1);
    expect(delta('vault_key_provider_calls_total', { provider: 'local', operation: 'unwrap', outcome: 'ok' })).toBe(1);
    expect(delta('vault_key_provider_call_duration_seconds_count', { provider: 'local', operation: 'unwrap' })).toBe(1);
    expect(delta('vault_key_provider_call_duration_seconds_sum', { provider: 'local', operation: 'unwrap' })).toBeGreaterThan(0);
  });

  it('labels name integrations and codes only: no user, agent, tenant or secret', async () => {
    const { text } = await scrape();
    const labelValues = [...text.matchAll(/="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
    expect(labelValues.length).toBeGreaterThan(20);
    for (const forbidden of ['alice', 'bob', 'mcp-1', 'mcp-2', T, API_KEY, 'admin@acme']) expect(labelValues).not.toContain(forbidden);
    expect(text).not.toContain(API_KEY);
  });

  it('a path an unauthenticated caller invents never becomes a label value', async () => {
    for (let i = 0; i < 3; i++) await v.call('POST', `/v1/connections/invented-${i}/token`, { token: 'garbage' });
    const { text } = await scrape();
    expect(text).not.toMatch(/invented-/);
  });
});

describe('Key Vault calls on the metrics match what Key Vault saw (azure provider, emulator)', () => {
  let kv: KeyVaultEmulator;
  let v: TestVault;

  beforeAll(async () => {
    kv = await KeyVaultEmulator.start({ token: 'metrics-kv-token' });
    await kv.createKey('kek', { kty: 'RSA-HSM', keySize: 2048 });
    v = await startTestVault({
      ...kv.vaultEnv(),
    });
    const a = v.issuer.adminToken('initech');
    for (const [path, body] of [
      ['/v1/admin/integrations/openai', { provider: 'api_key' }],
      ['/v1/admin/agents/mcp-1', { name: 'agent' }],
      ['/v1/admin/policies/p1', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' }],
      ['/v1/admin/connections/openai/users/alice', { api_key: 'sk-azure-metrics' }],
    ] as const) {
      expect((await v.call('PUT', path, { token: a, body })).status).toBe(201);
    }
  });
  afterAll(async () => {
    await v?.close();
    await kv?.dispose();
  });

  it('every unwrap Key Vault answered is on /metrics (cold cache); warm releases cost none at either', async () => {
    const unwrapsAtKeyVault = (from: number) =>
      kv.requestLog.slice(from).filter((e) => e.operation === 'unwrapkey' && e.authorized && e.status === 200).length;
    const labels = { provider: 'azure', operation: 'unwrap', outcome: 'ok' };
    const token = v.issuer.agentToken({ tenant: 'initech', user: 'alice', agent: 'mcp-1', integrations: ['openai'] });
    const round = async () => {
      const seen = kv.requestLog.length;
      const before = parseMetrics((await v.call('GET', '/metrics')).text);
      for (let i = 0; i < 3; i++) expect((await v.call('POST', '/v1/connections/openai/token', { token })).status).toBe(200);
      const after = parseMetrics((await v.call('GET', '/metrics')).text);
      return {
        keyVault: unwrapsAtKeyVault(seen),
        calls: sample(after, 'vault_key_provider_calls_total', labels) - sample(before, 'vault_key_provider_calls_total', labels),
        timed:
          sample(after, 'vault_key_provider_call_duration_seconds_count', { provider: 'azure', operation: 'unwrap' }) -
          sample(before, 'vault_key_provider_call_duration_seconds_count', { provider: 'azure', operation: 'unwrap' }),
      };
    };
    v.vault.app.get(Keyring).cache.clear();
    const cold = await round();
    expect(cold.keyVault).toBeGreaterThanOrEqual(1);
    expect(cold).toEqual({ keyVault: cold.keyVault, calls: cold.keyVault, timed: cold.keyVault });
    expect(await round()).toEqual({ keyVault: 0, calls: 0, timed: 0 });
  });
});
