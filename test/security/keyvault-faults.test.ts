import { randomUUID } from 'node:crypto';
import { RunningVault } from '../../apps/vault/bootstrap';
import { KeyVaultEmulator, RequestLogEntry } from '../support/keyvault-emulator';
import { startSecondVault, startTestVault, TestVault } from '../support/vault';

/**
 * SECURITY 36 on the release path, end to end: the real @azure/keyvault-keys client in the
 * vault against the Key Vault emulator answering 429 with `Retry-After`. (The provider's own
 * retry budget is tested in test/keyvault/azure-key-provider.test.ts, a KEK rewrap under 429 in
 * test/keys/kek-rotation.test.ts; here: what an agent sees, and what a cached key is worth.)
 *
 * A second API process on the same database has cold caches: its first release for a tenant
 * must unwrap that tenant's key in Key Vault.
 */
describe('Key Vault throttling on the release path (SECURITY 36)', () => {
  let kv: KeyVaultEmulator;
  let v: TestVault;
  let cold: RunningVault;
  // The vault's default Azure retry policy: the first attempt and 3 retries.
  const ATTEMPTS = 4;

  const release = async (tenant: string, user: string, jti: string = randomUUID()) => {
    const token = v.issuer.agentToken({ tenant, user, agent: 'mcp-1', integrations: ['openai'], claims: { jti } });
    const res = await fetch(`${cold.url}/v1/connections/openai/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(45000),
    });
    const text = await res.text();
    return {
      status: res.status,
      text,
      body: JSON.parse(text),
      contentType: res.headers.get('content-type') ?? '',
      retryAfter: res.headers.get('retry-after'),
    };
  };
  const unwrapCalls = (): RequestLogEntry[] => kv.requestLog.filter((e) => e.operation === 'unwrapkey');

  /** Every request that followed a 429 arrived after the Retry-After it was given (1 s), by the emulator's clock. */
  function expectRetryAfterHonoured(log: RequestLogEntry[]): void {
    for (let i = 1; i < log.length; i++) if (log[i - 1].status === 429) expect(log[i].at - log[i - 1].at).toBeGreaterThanOrEqual(950);
  }

  async function setupTenant(tenant: string, user: string): Promise<void> {
    const a = v.issuer.adminToken(tenant);
    for (const [path, body] of [
      ['/v1/admin/integrations/openai', { provider: 'api_key' }],
      ['/v1/admin/agents/mcp-1', { name: 'agent' }],
      ['/v1/admin/policies/p', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' }],
      [`/v1/admin/connections/openai/users/${user}`, { api_key: `key-${tenant}-${user}` }],
    ] as const) {
      expect((await v.call('PUT', path, { token: a, body })).status).toBe(201);
    }
  }

  beforeAll(async () => {
    kv = await KeyVaultEmulator.start();
    await kv.createKey('kek', { kty: 'RSA', keySize: 3072 });
    const env = {
      ...kv.vaultEnv(),
    };
    v = await startTestVault(env);
    for (const [tenant, user] of [
      ['warm', 'alice'],
      ['cold', 'carol'],
      ['cold2', 'dan'],
    ])
      await setupTenant(tenant, user);
    cold = await startSecondVault(v, env);
    // The second process has now loaded the warm tenant's key and the audit MAC key, nothing else.
    expect((await release('warm', 'alice')).status).toBe(200);
  });
  afterEach(() => kv.clearFaults());
  afterAll(async () => {
    await cold?.close();
    await v?.close();
    await kv?.dispose();
  });

  it('a cold tenant key load under 429: Retry-After honoured, the release succeeds within the retry budget', async () => {
    kv.resetLog();
    kv.inject({ kind: 'throttle', retryAfterSeconds: 1, count: 2, operation: 'unwrapkey' });
    const r = await release('cold', 'carol');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ integration: 'openai', type: 'api_key', api_key: 'key-cold-carol' });
    const log = unwrapCalls();
    expect(log.map((e) => e.status)).toEqual([429, 429, 200]);
    expectRetryAfterHonoured(log);
    // Now cached: no further Key Vault call.
    kv.resetLog();
    expect((await release('cold', 'carol')).status).toBe(200);
    expect(kv.requestLog).toHaveLength(0);
  });

  it(
    'throttled past the retry budget: bounded retries, 503 unavailable, nothing released; a warm tenant keeps releasing ' +
      'with zero Key Vault calls',
    async () => {
      kv.resetLog();
      kv.inject({ kind: 'throttle', retryAfterSeconds: 1, count: Infinity }); // every operation, until cleared
      const jti = randomUUID();
      const coldAttempt = release('cold2', 'dan', jti);
      let done = false;
      void coldAttempt.finally(() => (done = true)).catch(() => undefined);
      // While the cold load is backing off, the warm tenant is served from its cached key.
      const warm: Array<Awaited<ReturnType<typeof release>>> = [];
      while (!done) warm.push(await release('warm', 'alice'));
      const r = await coldAttempt;

      expect(r.status).toBe(503);
      expect(r.contentType).toContain('application/problem+json');
      expect(r.body).toMatchObject({ status: 503, code: 'unavailable' });
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(r.text).not.toContain('key-cold2-dan');

      expect(warm.length).toBeGreaterThan(0);
      for (const w of warm) expect(w.body).toEqual({ integration: 'openai', type: 'api_key', api_key: 'key-warm-alice' });
      // Every Key Vault request in that time was the cold load's (1 + 3 retries, each after its
      // Retry-After), besides the keyring's background health probe (get), which no release waits on.
      const unwraps = kv.requestLog.filter((e) => e.operation !== 'get');
      expect(unwraps.map((e) => `${e.operation} ${e.status}`)).toEqual(Array(ATTEMPTS).fill('unwrapkey 429'));
      expectRetryAfterHonoured(unwraps as RequestLogEntry[]);

      const released = await v.db.ds.query(
        `SELECT 1 FROM vault.audit_events WHERE action = 'credential.release' AND outcome = 'allowed' AND details->>'jti' = $1`,
        [jti],
      );
      expect(released).toHaveLength(0);

      // The failure is not remembered: once Key Vault answers, the key loads.
      kv.clearFaults();
      const again = await release('cold2', 'dan');
      expect(again.status).toBe(200);
      expect(again.body.api_key).toBe('key-cold2-dan');
    },
  );
});
