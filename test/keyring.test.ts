import { inspect } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring, LocalKeyProvider } from '../libs/crypto';
import { context, open as aeadOpen } from '../libs/crypto/aead';
import { asTenantId } from '../libs/kernel';
import { createTestDatabase, TestDatabase } from './support/database';

/** Keyring invariants 4, 5 and 7 on real Postgres with the local key provider. */
describe('keyring (local provider, real Postgres)', () => {
  let db: TestDatabase;
  let provider: LocalKeyProvider;
  const tenant = asTenantId('acme');

  beforeAll(async () => {
    db = await createTestDatabase();
    provider = new LocalKeyProvider(join(mkdtempSync(join(tmpdir(), 'kek-')), 'kek.json'));
    await provider.init();
  });
  afterAll(() => db?.drop());

  const keyring = (maxEncryptionsPerKey = 2 ** 30) =>
    new Keyring(db.ds, provider, { cacheSize: 100, cacheMaxAgeMs: 60_000, writeHealthTtlMs: 0, maxEncryptionsPerKey });

  it('invariant 4: counts encryptions per tenant key and moves to a new key before the budget runs out', async () => {
    const k = keyring(5);
    const sealed = [];
    for (let i = 0; i < 12; i++)
      sealed.push(
        await k.seal(
          { tenant, table: 'connections', id: `r${i}`, bind: { subject: 'u1', integration: 'openai' } },
          { api_key: Buffer.from(`v${i}`) },
        ),
      );
    const rows = await db.ds.query(
      `SELECT version, status, encryptions::int AS n FROM vault.tenant_keys WHERE tenant = 'acme' ORDER BY version`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const r of rows) expect(r.n).toBeLessThanOrEqual(5);
    expect(rows.filter((r: { status: string }) => r.status === 'active')).toHaveLength(1);
    // Everything sealed under earlier versions still opens.
    for (let i = 0; i < 12; i++) {
      const out = await k.open(
        { tenant, table: 'connections', id: `r${i}`, bind: { subject: 'u1', integration: 'openai' } },
        sealed[i].dekWrapped,
        'api_key',
        sealed[i].fields.api_key!,
      );
      expect(out.toString()).toBe(`v${i}`);
    }
  });

  it('invariant 3: a sealed field opens only at its own record and field', async () => {
    const k = keyring();
    const s = await k.seal(
      { tenant, table: 'connections', id: 'x1', bind: { subject: 'u1', integration: 'openai' } },
      { api_key: Buffer.from('secret') },
    );
    await expect(
      k.open(
        { tenant, table: 'connections', id: 'x2', bind: { subject: 'u1', integration: 'openai' } },
        s.dekWrapped,
        'api_key',
        s.fields.api_key!,
      ),
    ).rejects.toThrow('key unwrap failed');
    await expect(
      k.open(
        { tenant, table: 'connections', id: 'x1', bind: { subject: 'u1', integration: 'openai' } },
        s.dekWrapped,
        'access_token',
        s.fields.api_key!,
      ),
    ).rejects.toThrow('key unwrap failed');
    await expect(
      k.open({ tenant, table: 'integrations', id: 'x1', bind: { name: 'openai' } }, s.dekWrapped, 'api_key', s.fields.api_key!),
    ).rejects.toThrow('key unwrap failed');
    await expect(
      k.open(
        { tenant: asTenantId('other'), table: 'connections', id: 'x1', bind: { subject: 'u1', integration: 'openai' } },
        s.dekWrapped,
        'api_key',
        s.fields.api_key!,
      ),
    ).rejects.toThrow('key unwrap failed');
    // Relabelled in place: the same row, now saying it is someone else's, or for another integration.
    await expect(
      k.open(
        { tenant, table: 'connections', id: 'x1', bind: { subject: 'u2', integration: 'openai' } },
        s.dekWrapped,
        'api_key',
        s.fields.api_key!,
      ),
    ).rejects.toThrow('key unwrap failed');
    await expect(
      k.open(
        { tenant, table: 'connections', id: 'x1', bind: { subject: 'u1', integration: 'github' } },
        s.dekWrapped,
        'api_key',
        s.fields.api_key!,
      ),
    ).rejects.toThrow('key unwrap failed');
    // Pairs are encoded unambiguously: a value cannot borrow from its neighbour.
    await expect(
      k.open(
        { tenant, table: 'connections', id: 'x1', bind: { subject: 'u1openai', integration: '' } },
        s.dekWrapped,
        'api_key',
        s.fields.api_key!,
      ),
    ).rejects.toThrow('key unwrap failed');
    expect(
      (
        await k.open(
          { tenant, table: 'connections', id: 'x1', bind: { subject: 'u1', integration: 'openai' } },
          s.dekWrapped,
          'api_key',
          s.fields.api_key!,
        )
      ).toString(),
    ).toBe('secret');
  });

  it("invariant 3: a record must bind exactly its table's identifying columns", async () => {
    const k = keyring();
    await expect(
      k.seal({ tenant, table: 'connections', id: 'b1', bind: { subject: 'u1' } }, { api_key: Buffer.from('x') }),
    ).rejects.toThrow('must bind exactly');
    await expect(k.seal({ tenant, table: 'connections', id: 'b1', bind: {} } as never, { api_key: Buffer.from('x') })).rejects.toThrow(
      'must bind exactly',
    );
    await expect(k.seal({ tenant, table: 'nope', id: 'b1', bind: {} }, { api_key: Buffer.from('x') })).rejects.toThrow(
      'not a sealed table',
    );
  });

  it('invariant 3: a wrapped tenant key copied to another tenant does not unwrap there', async () => {
    const k = keyring();
    await k.seal(
      { tenant: asTenantId('victim'), table: 'connections', id: 'v1', bind: { subject: 'u1', integration: 'openai' } },
      { api_key: Buffer.from('a') },
    );
    await k.seal(
      { tenant: asTenantId('thief'), table: 'connections', id: 't1', bind: { subject: 'u1', integration: 'openai' } },
      { api_key: Buffer.from('b') },
    );
    await db.ds.query(
      `UPDATE vault.tenant_keys SET wrapped = (SELECT wrapped FROM vault.tenant_keys WHERE tenant = ` +
        `'victim' AND version = 1), kek_key_id = (SELECT kek_key_id FROM vault.tenant_keys WHERE tenant = ` +
        `'victim' AND version = 1) WHERE tenant = 'thief'`,
    );
    await expect(keyring().tenantKey(asTenantId('thief'), 1)).rejects.toThrow('key unwrap failed');
  });

  it('invariant 7: the keyring and its cache never print key material', async () => {
    const k = keyring();
    await k.seal({ tenant, table: 'connections', id: 'p1', bind: { subject: 'u1', integration: 'openai' } }, { api_key: Buffer.from('x') });
    const tk = await k.tenantKey(tenant, (await k.activeTenantKey(tenant)).version);
    const hex = tk.toString('hex');
    const shown = inspect(k, { depth: 10 }) + JSON.stringify(k.cache) + String(k.cache);
    expect(shown).not.toContain(hex);
    expect(shown).not.toContain(tk.toString('base64'));
    expect(inspect(k, { depth: 10 })).not.toMatch(/<Buffer/);
  });
  it('a tenant key evicted from the cache while records are being sealed never wraps a DEK (found by bench/refresh)', async () => {
    // Two cache slots, four tenants, many seals at once: every seal's key is evicted by another's load
    // while its encryption counter round trip is in flight.
    const k = new Keyring(db.ds, provider, { cacheSize: 2, cacheMaxAgeMs: 60_000, writeHealthTtlMs: 0, maxEncryptionsPerKey: 2 ** 30 });
    const tenants = ['ev1', 'ev2', 'ev3', 'ev4'].map(asTenantId);
    const jobs = Array.from({ length: 160 }, (_, i) => ({
      ref: { tenant: tenants[i % 4], table: 'connections', id: `e${i}`, bind: { subject: 'u1', integration: 'openai' } },
      value: Buffer.from(`secret-${i}`),
    }));
    const sealed = await Promise.all(jobs.map((j) => k.seal(j.ref, { api_key: j.value })));
    const zero = Buffer.alloc(32);
    const cold = keyring(); // every key unwrapped again from the provider
    for (const [i, s] of sealed.entries()) {
      const version = Keyring.versionOf(s.dekWrapped);
      // Under an all-zero key the wrapped DEK would open for anyone; the vault's own cold keyring must read it.
      expect(() =>
        aeadOpen(zero, s.dekWrapped.subarray(5), context('dek', jobs[i].ref.tenant, 'connections', jobs[i].ref.id, version)),
      ).toThrow();
      expect((await cold.open(jobs[i].ref as never, s.dekWrapped, 'api_key', s.fields.api_key!)).toString()).toBe(`secret-${i}`);
    }
    expect(k.cache.size).toBeLessThanOrEqual(2);
  });

  it("a key handed out by activeTenantKey is the caller's own copy: eviction does not zero it", async () => {
    const k = keyring();
    await k.seal({ tenant, table: 'connections', id: 'c1', bind: { subject: 'u1', integration: 'openai' } }, { api_key: Buffer.from('x') });
    const { key } = await k.activeTenantKey(tenant);
    const before = Buffer.from(key);
    k.cache.clear();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(key.equals(before)).toBe(true);
    expect(key.equals(Buffer.alloc(32))).toBe(false);
  });
});
