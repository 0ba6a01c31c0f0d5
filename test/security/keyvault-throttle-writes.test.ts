import { RunningVault } from '../../apps/vault/bootstrap';
import { KeyVaultEmulator } from '../support/keyvault-emulator';
import { waitFor } from '../keys/support';
import { startSecondVault, startTestVault, TestVault } from '../support/vault';

/**
 * SECURITY 48: Key Vault off the write path. With the tenant key cached, a throttling Key Vault
 * (429 with Retry-After on every request) costs nothing: writes and reads keep working and send it
 * no request of their own (readiness comes from actual failures and the keyring's background
 * probe, which does not count a throttle as an outage). A process started while Key Vault throttles
 * comes up not ready and retries; it does not exit. Real @azure/keyvault-keys client, emulator over HTTPS.
 */
describe('Key Vault throttling and the write path (SECURITY 48)', () => {
  let kv: KeyVaultEmulator;
  let v: TestVault;
  let env: Record<string, string>;
  const T = 'acme';
  const admin = () => v.issuer.adminToken(T);
  const putKey = (user: string, key: string) =>
    v.call('PUT', `/v1/admin/connections/openai/users/${user}`, { token: admin(), body: { api_key: key } });
  const releaseAt = async (url: string, user: string) => {
    const token = v.issuer.agentToken({ tenant: T, user, agent: 'mcp-1', integrations: ['openai'] });
    const res = await fetch(`${url}/v1/connections/openai/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json().catch(() => undefined)) as any, retryAfter: res.headers.get('retry-after') };
  };

  beforeAll(async () => {
    kv = await KeyVaultEmulator.start();
    await kv.createKey('kek', { kty: 'RSA', keySize: 3072 });
    env = {
      ...kv.vaultEnv(),
      VAULT_KEY_HEALTH_TTL_MS: '1000',
    };
    v = await startTestVault(env);
    for (const [path, body] of [
      ['/v1/admin/integrations/openai', { provider: 'api_key' }],
      ['/v1/admin/agents/mcp-1', { name: 'agent' }],
      ['/v1/admin/policies/p', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' }],
    ] as const) {
      expect((await v.call('PUT', path, { token: admin(), body })).status).toBe(201);
    }
    expect((await putKey('alice', 'key-alice')).status).toBe(201); // the tenant key is now cached
  });
  afterEach(() => kv.clearFaults());
  afterAll(async () => {
    await v?.close();
    await kv?.dispose();
  });

  it('with the tenant key cached, writes and reads keep working while Key Vault throttles; no Key Vault request per write', async () => {
    kv.inject({ kind: 'throttle', retryAfterSeconds: 1, count: Infinity });
    // Past the old per-write health window (VAULT_KEY_HEALTH_TTL_MS): a write then had to ask Key Vault.
    await new Promise((r) => setTimeout(r, 1500));
    kv.resetLog();
    const writes = 12;
    for (let i = 0; i < writes; i++) {
      const r = await putKey(`user${i}`, `key-${i}`);
      expect(r.status).toBe(201);
    }
    for (let i = 0; i < writes; i++) expect((await releaseAt(v.url, `user${i}`)).body?.api_key).toBe(`key-${i}`);
    // Only the background probe talks to Key Vault (about one health read a second, retried on 429).
    const gets = kv.requestLog.filter((e) => e.operation === 'get').length;
    expect(kv.requestLog.filter((e) => e.operation !== 'get')).toEqual([]);
    expect(gets).toBeLessThan(writes * 2);
    expect((await v.call('GET', '/readyz')).status).toBe(200); // throttled is not down
  });

  it('a process started while Key Vault throttles comes up not ready and retries with backoff; ready once Key Vault answers', async () => {
    kv.inject({ kind: 'throttle', retryAfterSeconds: 1, count: Infinity });
    let second: RunningVault | undefined;
    try {
      second = await startSecondVault(v, env);
      const ready = await fetch(`${second.url}/readyz`);
      expect(ready.status).toBe(503);
      const refused = await releaseAt(second.url, 'alice'); // its tenant key cache is cold: Key Vault is needed
      expect(refused.status).toBe(503);
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(refused.body?.api_key).toBeUndefined();

      kv.clearFaults();
      await waitFor('the second process to become ready', async () => (await fetch(`${second!.url}/readyz`)).status === 200, 30_000, 200);
      expect((await releaseAt(second.url, 'alice')).body?.api_key).toBe('key-alice');
    } finally {
      await second?.close();
    }
  });
});
