import { Keyring, KEY_PROVIDER, KeyProvider, rewrapOntoCurrentKek } from '../libs/crypto';
import { asTenantId } from '../libs/kernel';
import { KeyVaultEmulator } from './support/keyvault-emulator';
import { startSecondVault, startTestVault, TestVault } from './support/vault';

/**
 * DESIGN.md key-hierarchy invariants and SECURITY.md 20, 23, 24 on the real
 * @azure/keyvault-keys client against the Key Vault emulator over HTTPS.
 */
describe('keyring on Azure Key Vault (emulator)', () => {
  let kv: KeyVaultEmulator;
  let v: TestVault;
  let env: Record<string, string>;
  const T = 'acme';
  const admin = () => v.issuer.adminToken(T);
  const unwraps = () => kv.requestLog.filter((e) => e.operation === 'unwrapkey' && e.status === 200).length;
  const release = (user: string, tenant = T) =>
    v.call('POST', '/v1/connections/openai/token', {
      token: v.issuer.agentToken({ tenant, user, agent: 'mcp-1', integrations: ['openai'] }),
    });

  async function setupTenant(tenant: string, users: string[]) {
    const a = v.issuer.adminToken(tenant);
    expect((await v.call('PUT', '/v1/admin/integrations/openai', { token: a, body: { provider: 'api_key' } })).status).toBe(201);
    expect((await v.call('PUT', '/v1/admin/agents/mcp-1', { token: a, body: { name: 'agent' } })).status).toBe(201);
    expect(
      (await v.call('PUT', '/v1/admin/policies/p', { token: a, body: { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' } }))
        .status,
    ).toBe(201);
    for (const u of users)
      expect(
        (await v.call('PUT', `/v1/admin/connections/openai/users/${u}`, { token: a, body: { api_key: `key-${tenant}-${u}` } })).status,
      ).toBe(201);
  }

  beforeAll(async () => {
    kv = await KeyVaultEmulator.start();
    await kv.createKey('kek', { kty: 'RSA', keySize: 3072 });
    env = {
      ...kv.vaultEnv(),
      VAULT_KEY_HEALTH_TTL_MS: '0',
    };
    v = await startTestVault(env);
    await setupTenant(T, ['alice', 'bob']);
  });
  afterAll(async () => {
    await v?.close();
    await kv?.dispose();
  });

  it('invariant 1: zero Key Vault calls across 1,000 releases after warm-up', async () => {
    expect((await release('alice')).status).toBe(200);
    kv.resetLog();
    for (let i = 0; i < 50; i++) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => release(i % 2 ? 'alice' : 'bob')));
      for (const r of batch) expect(r.status).toBe(200);
    }
    expect(kv.requestLog).toHaveLength(0);
  });

  it('invariant 1: concurrent cache misses coalesce into one unwrap per key', async () => {
    // A second API process on the same database: its caches are cold.
    const other = await startSecondVault(v, env);
    try {
      kv.resetLog();
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          fetch(`${other.url}/v1/connections/openai/token`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'] })}`,
            },
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
      // One tenant key and the audit MAC key: two unwraps, however many requests raced.
      expect(unwraps()).toBe(2);
    } finally {
      await other.close();
    }
  });

  it('invariant 2: KEK rotation rewraps tenant keys only — O(tenant keys) Key Vault calls, records untouched', async () => {
    for (const t of ['t1', 't2', 't3', 't4']) await setupTenant(t, ['u1', 'u2', 'u3', 'u4', 'u5']);
    const before = await v.db.ds.query(`SELECT id, dek_wrapped, api_key_ct FROM vault.connections ORDER BY id`);
    const [{ tks }] = await v.db.ds.query(
      `SELECT (SELECT count(*) FROM vault.tenant_keys) + (SELECT count(*) FROM vault.system_keys) AS tks`,
    );
    const rotated = await kv.rotateKey('kek');
    kv.resetLog();
    const provider = v.vault.app.get<KeyProvider>(KEY_PROVIDER);
    const result = await rewrapOntoCurrentKek(v.db.ds, provider);
    expect(result).toMatchObject({ currentKeyId: rotated.kid, rewrapped: Number(tks), remaining: 0 });
    expect(unwraps()).toBe(Number(tks)); // one remote unwrap per key; wraps are local
    expect(kv.requestLog.filter((e) => e.operation === 'wrapkey')).toHaveLength(0);
    const after = await v.db.ds.query(`SELECT id, dek_wrapped, api_key_ct FROM vault.connections ORDER BY id`);
    expect(after).toEqual(before);
    const kekIds = await v.db.ds.query(`SELECT DISTINCT kek_key_id FROM vault.tenant_keys`);
    expect(kekIds).toEqual([{ kek_key_id: rotated.kid }]);
    // Rerun is a no-op (idempotent).
    expect(await rewrapOntoCurrentKek(v.db.ds, provider)).toMatchObject({ rewrapped: 0, remaining: 0 });
    // A cold process decrypts everything through the new KEK version.
    const other = await startSecondVault(v, env);
    try {
      kv.resetLog();
      const res = await fetch(`${other.url}/v1/connections/openai/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${v.issuer.agentToken({ tenant: 't3', user: 'u4', agent: 'mcp-1', integrations: ['openai'] })}` },
      });
      expect(await res.json()).toMatchObject({ api_key: 'key-t3-u4' });
      expect(kv.requestLog.filter((e) => e.operation === 'unwrapkey').every((e) => e.version === rotated.version)).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('SECURITY 20: ciphertext or wrapped DEK copied to another row or tenant fails, generically, and is recorded', async () => {
    await v.db.ds.query(
      `UPDATE vault.connections SET api_key_ct = (SELECT api_key_ct FROM vault.connections WHERE ` +
        `tenant = 'acme' AND subject = 'alice') WHERE tenant = 'acme' AND subject = 'bob'`,
    );
    const bob = await release('bob');
    expect(bob.status).toBe(500);
    expect(bob.body).toMatchObject({ code: 'internal_error', detail: 'An internal error occurred.' });
    expect(bob.body.error_id).toEqual(expect.any(String));
    expect(bob.text).not.toContain('key-acme-alice');
    const [event] = await v.db.ds.query(
      `SELECT outcome, reason FROM vault.audit_events WHERE tenant = 'acme' AND subject = 'bob' ORDER BY seq DESC LIMIT 1`,
    );
    expect(event).toEqual({ outcome: 'error', reason: 'decrypt_failed' });

    // Whole sealed credential (DEK + ciphertext) moved to another tenant's row.
    await v.db.ds.query(
      `UPDATE vault.connections SET (dek_wrapped, api_key_ct, tk_version) = (SELECT dek_wrapped, api_key_ct, tk_version
        FROM vault.connections WHERE tenant = 't1' AND subject = 'u1')
        WHERE tenant = 't2' AND subject = 'u1'`,
    );
    const moved = await release('u1', 't2');
    expect(moved.status).toBe(500);
    expect(moved.text).not.toContain('key-t1-u1');
    expect((await release('u1', 't1')).body.api_key).toBe('key-t1-u1');
  });

  it(
    'SECURITY 23 / invariant 5: retiring is refused while rows use a version; relabelled ciphertext under a retired ' +
      'version is refused',
    async () => {
      const keyring = v.vault.app.get(Keyring);
      const t4 = asTenantId('t4');
      expect(await keyring.rotateTenantKey(t4)).toBe(2);
      await expect(keyring.retireBelow(t4, 2)).rejects.toMatchObject({ code: 'conflict' });
      // Rewrap the DEKs (not the data) onto version 2, then retire version 1.
      const rows = await v.db.ds.query(`SELECT id, dek_wrapped FROM vault.connections WHERE tenant = 't4'`);
      for (const r of rows) {
        const next = await keyring.rewrapDek({ tenant: t4, table: 'connections', id: r.id }, r.dek_wrapped);
        expect(next.tkVersion).toBe(2);
        await v.db.ds.query(`UPDATE vault.connections SET dek_wrapped = $1, tk_version = $2 WHERE id = $3`, [
          next.dekWrapped,
          next.tkVersion,
          r.id,
        ]);
      }
      await keyring.retireBelow(t4, 2);
      expect((await release('u2', 't4')).body.api_key).toBe('key-t4-u2');
      // Relabel one row's wrapped DEK to claim the retired version 1.
      const [row] = await v.db.ds.query(`SELECT id, dek_wrapped FROM vault.connections WHERE tenant = 't4' AND subject = 'u3'`);
      const relabelled = Buffer.from(row.dek_wrapped);
      relabelled.writeUInt32BE(1, 1);
      // The tk_version column cannot name a retired version at all (key_version_guard trigger); the bytes can.
      await expect(
        v.db.ds.query(`UPDATE vault.connections SET dek_wrapped = $1, tk_version = 1 WHERE id = $2`, [relabelled, row.id]),
      ).rejects.toMatchObject({ code: 'VK001' });
      await v.db.ds.query(`UPDATE vault.connections SET dek_wrapped = $1 WHERE id = $2`, [relabelled, row.id]);
      const res = await release('u3', 't4');
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('internal_error');
    },
  );

  it('SECURITY 24 / invariant 6: key provider down on write → 503, nothing stored; cached reads keep working', async () => {
    const canary = 'sk-canary-kv-down-91c2';
    const before = await v.db.ds.query(`SELECT count(*)::int AS n FROM vault.connections`);
    await kv.stop();
    try {
      const existing = await v.call('PUT', '/v1/admin/connections/openai/users/zed', { token: admin(), body: { api_key: canary } });
      expect(existing.status).toBe(503);
      expect(existing.body.code).toBe('unavailable');
      expect(existing.headers.get('retry-after')).toBeTruthy();
      const newTenant = await v.call('PUT', '/v1/admin/integrations/x', {
        token: v.issuer.adminToken('fresh'),
        body: {
          provider: 'custom-oauth2',
          client_id: 'c',
          client_secret: canary,
          authorize_url: 'https://idp.example/authorize',
          token_url: 'https://idp.example/token',
        },
      });
      expect(newTenant.status).toBe(503);
      expect((await v.db.ds.query(`SELECT count(*)::int AS n FROM vault.connections`))[0].n).toBe(before[0].n);
      expect((await v.call('GET', '/readyz')).status).toBe(503);
      // Reads of cached keys do not need Key Vault.
      expect((await release('alice')).status).toBe(200);
      // No plaintext anywhere: scan every row of every table as text.
      const tables = await v.db.ds.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'vault'`);
      for (const { table_name } of tables) {
        const dump = await v.db.ds.query(`SELECT t::text AS row FROM vault."${table_name}" t`);
        for (const { row } of dump) expect(row).not.toContain(canary);
      }
    } finally {
      await kv.restart();
    }
    expect((await v.call('PUT', '/v1/admin/connections/openai/users/zed', { token: admin(), body: { api_key: canary } })).status).toBe(201);
    expect((await v.call('GET', '/readyz')).status).toBe(200);
  });
});
