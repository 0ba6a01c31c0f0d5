import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningVault } from '../../apps/vault/bootstrap';
import { KEY_PROVIDER } from '../../libs/crypto';
import type { KeyProvider } from '../../libs/crypto/key-provider';
import { startSecondVault, startTestVault, TestVault } from '../support/vault';

/**
 * Issue 14 §6: the local key provider failing at runtime (its KEK file unreadable or corrupt)
 * answers a release like any key provider outage: 503 `unavailable`, nothing released, never a
 * 500. A second API process on the same database and KEK file has cold tenant-key caches, so its
 * releases must unwrap through the provider.
 */
describe('local key provider failing at runtime (issue 14 §6)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-kek-'));
  const kekFile = join(dir, 'kek.json');
  let v: TestVault;
  let cold: RunningVault;
  let good: string;

  const release = async (tenant: string, user: string) => {
    const token = v.issuer.agentToken({ tenant, user, agent: 'mcp-1', integrations: ['openai'] });
    const res = await fetch(`${cold.url}/v1/connections/openai/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text), retryAfter: res.headers.get('retry-after') };
  };
  const provider = () => cold.app.get<KeyProvider>(KEY_PROVIDER);

  beforeAll(async () => {
    v = await startTestVault({ LOCAL_KEK_FILE: kekFile });
    for (const tenant of ['warm', 'c1', 'c2', 'c3', 'c4']) {
      const a = v.issuer.adminToken(tenant);
      for (const [path, body] of [
        ['/v1/admin/integrations/openai', { provider: 'api_key' }],
        ['/v1/admin/agents/mcp-1', { name: 'agent' }],
        ['/v1/admin/policies/p', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' }],
        ['/v1/admin/connections/openai/users/alice', { api_key: `key-${tenant}-canary` }],
      ] as const)
        expect((await v.call('PUT', path, { token: a, body })).status).toBe(201);
    }
    cold = await startSecondVault(v, { VAULT_DATA_DIR: dir, LOCAL_KEK_FILE: kekFile });
    expect((await release('warm', 'alice')).status).toBe(200);
    good = readFileSync(kekFile, 'utf8');
  });
  afterAll(async () => {
    await cold?.close();
    await v?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const corruptions: Array<[string, string, () => void]> = [
    ['c1', 'the current version gone', () => writeFileSync(kekFile, JSON.stringify({ current: 'x', versions: [] }))],
    ['c2', 'not JSON', () => writeFileSync(kekFile, '{"current": "')],
    [
      'c3',
      'a key that is not 256 bits',
      () =>
        writeFileSync(
          kekFile,
          JSON.stringify({ ...JSON.parse(good), versions: JSON.parse(good).versions.map((x: object) => ({ ...x, key: 'AAAA' })) }),
        ),
    ],
    [
      'c4',
      'unreadable (a directory now)',
      () => {
        rmSync(kekFile);
        mkdirSync(kekFile);
      },
    ],
  ];

  it.each(corruptions)(
    '%s: KEK file %s → refresh fails, release 503 unavailable, nothing released; restored → 200',
    async (tenant, _what, corrupt) => {
      corrupt();
      await expect(provider().refresh()).rejects.toMatchObject({ name: 'KeyProviderUnavailableError' });
      const r = await release(tenant, 'alice');
      expect([r.status, r.body.code]).toEqual([503, 'unavailable']);
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(r.text).not.toContain('canary');
      const ready = await fetch(`${cold.url}/readyz`);
      expect(ready.status).toBe(503);
      // A tenant key already in memory keeps serving, as with Key Vault down (SECURITY 48).
      expect((await release('warm', 'alice')).body.api_key).toBe('key-warm-canary');

      rmSync(kekFile, { recursive: true, force: true });
      writeFileSync(kekFile, good);
      await provider().refresh();
      const again = await release(tenant, 'alice');
      expect([again.status, again.body.api_key]).toEqual([200, `key-${tenant}-canary`]);
    },
  );
});
