import { createHmac } from 'node:crypto';
import { DataSource } from 'typeorm';
import { verifyAuditChain } from '../../libs/audit';
import { createDataSource, runMigrations } from '../../libs/db';
import { createTestDatabase, TestDatabase } from '../support/database';
import { event, newAuditLog, randomMacKey } from './support';

describe('the audit chain', () => {
  let db: TestDatabase;
  const key = randomMacKey();
  const extra: DataSource[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const ds of extra) if (ds.isInitialized) await ds.destroy();
    await db.drop();
  });

  /** A fresh, migrated schema in the test database holding `n` events. */
  let schemas = 0;
  async function chainOf(n: number): Promise<DataSource> {
    const schema = `chain_${++schemas}`;
    const ds = createDataSource({ url: db.url, schema, poolSize: 3 });
    extra.push(ds);
    await ds.initialize();
    await runMigrations(ds, schema);
    const audit = newAuditLog(ds, key);
    for (let i = 1; i <= n; i++) await audit.record(event(`t${i % 2}`, { details: { i } }));
    return ds;
  }

  /** Tampering as a superuser would: with every trigger (append-only, head guard) switched off. */
  async function tamper(ds: DataSource, sql: string, params: unknown[] = []): Promise<void> {
    await ds.transaction(async (m) => {
      await m.query('SET LOCAL session_replication_role = replica');
      await m.query(sql, params);
    });
  }

  it('holds when two processes (two DataSources) write concurrently', async () => {
    const ds2 = createDataSource({ url: db.url, schema: 'vault', poolSize: 5 });
    extra.push(ds2);
    await ds2.initialize();
    const a = newAuditLog(db.ds, key, { batchMax: 16 });
    const b = newAuditLog(ds2, key, { batchMax: 16 });
    const writes = Array.from({ length: 300 }, (_, i) => (i % 2 ? a : b).record(event(`tenant-${i % 3}`, { details: { i } })));
    // A verification running meanwhile sees one consistent snapshot, not a half-written tail.
    const verifying = (async () => {
      await new Promise((r) => setTimeout(r, 10));
      return verifyAuditChain(db.ds, key, { pageSize: 5 });
    })();
    const receipts = await Promise.all(writes);
    expect((await verifying).ok).toBe(true);

    expect(new Set(receipts.map((r) => r.seq)).size).toBe(300);
    expect(a.stats().flushes).toBeGreaterThan(1);
    expect(b.stats().flushes).toBeGreaterThan(1);
    // Small pages so that the verifier crosses many page boundaries.
    const report = await verifyAuditChain(db.ds, key, { pageSize: 7 });
    expect(report).toMatchObject({ ok: true, checked: 300, headSeq: '300' });
    expect(report.problem).toBeUndefined();
  });

  it('is empty and fine before the first event', async () => {
    const ds = await chainOf(0);
    expect(await verifyAuditChain(ds, key)).toEqual({ ok: true, checked: 0, headSeq: '0', headHash: '0'.repeat(64) });
  });

  it('does not verify under another key', async () => {
    const ds = await chainOf(3);
    expect(await verifyAuditChain(ds, randomMacKey())).toMatchObject({ ok: false, firstBadSeq: '1', problem: 'hash_mismatch' });
  });

  it.each([
    ['details', `UPDATE audit_events SET details = '{"i": 99}' WHERE seq = 4`],
    ['the outcome', `UPDATE audit_events SET outcome = 'denied' WHERE seq = 4`],
    ['the tenant', `UPDATE audit_events SET tenant = 'other' WHERE seq = 4`],
    ['a null field', `UPDATE audit_events SET reason = 'policy_denied' WHERE seq = 4`],
    ['the time, by a microsecond', `UPDATE audit_events SET at = at + interval '1 microsecond' WHERE seq = 4`],
  ])('detects a modified field: %s', async (_what, sql) => {
    const ds = await chainOf(6);
    await tamper(ds, sql);
    expect(await verifyAuditChain(ds, key)).toMatchObject({ ok: false, checked: 3, firstBadSeq: '4', problem: 'hash_mismatch' });
  });

  it('detects a deleted row (a gap)', async () => {
    const ds = await chainOf(6);
    await tamper(ds, 'DELETE FROM audit_events WHERE seq = 3');
    expect(await verifyAuditChain(ds, key)).toMatchObject({ ok: false, checked: 2, firstBadSeq: '3', problem: 'seq_gap' });
  });

  it('detects a deleted row whose successors were renumbered (a broken link)', async () => {
    const ds = await chainOf(6);
    await tamper(ds, 'DELETE FROM audit_events WHERE seq = 3');
    // Two steps, so that the primary key never sees two rows with one seq.
    await tamper(ds, 'UPDATE audit_events SET seq = -seq WHERE seq > 3');
    await tamper(ds, 'UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0');
    await tamper(ds, 'UPDATE audit_chain_head SET seq = 5');
    expect(await verifyAuditChain(ds, key)).toMatchObject({ ok: false, firstBadSeq: '3', problem: 'prev_hash_mismatch' });
  });

  it('detects a forged row appended without the key, even with the head moved', async () => {
    const ds = await chainOf(5);
    const [last] = await ds.query('SELECT hash FROM audit_events WHERE seq = 5');
    const forged = createHmac('sha256', randomMacKey()).update('forged').digest();
    await ds.query(
      `INSERT INTO audit_events (seq, id, at, tenant, action, outcome, details, prev_hash, hash)
       VALUES (6, gen_random_uuid(), now(), 't1', 'credential.release', 'allowed', '{}', $1, $2)`,
      [last.hash, forged],
    );
    await ds.query('UPDATE audit_chain_head SET seq = 6, hash = $1', [forged]);
    expect(await verifyAuditChain(ds, key)).toMatchObject({ ok: false, checked: 5, firstBadSeq: '6', problem: 'hash_mismatch' });
  });

  it('detects a forged row below the chain (seq < 1), which list() would otherwise show', async () => {
    const ds = await chainOf(2);
    await ds.query(
      `INSERT INTO audit_events (seq, id, at, tenant, action, outcome, details, prev_hash, hash)
       VALUES (-1, gen_random_uuid(), now(), 't1', 'credential.release', 'allowed', '{}', $1, $1)`,
      [Buffer.alloc(32)],
    );
    expect(await verifyAuditChain(ds, key)).toMatchObject({ ok: false, firstBadSeq: '-1', problem: 'stray_row' });
  });

  it('detects a truncated tail (the head is ahead of the table)', async () => {
    const ds = await chainOf(6);
    await tamper(ds, 'DELETE FROM audit_events WHERE seq > 4');
    expect(await verifyAuditChain(ds, key)).toMatchObject({
      ok: false,
      checked: 4,
      headSeq: '6',
      firstBadSeq: '5',
      problem: 'head_mismatch',
    });
  });

  it('detects rows past the head, and a missing head', async () => {
    const ds = await chainOf(4);
    await tamper(ds, 'UPDATE audit_chain_head SET seq = 3');
    expect(await verifyAuditChain(ds, key)).toMatchObject({ ok: false, firstBadSeq: '4', problem: 'head_mismatch' });
    await tamper(ds, 'DELETE FROM audit_chain_head');
    expect(await verifyAuditChain(ds, key)).toMatchObject({ ok: false, problem: 'head_missing' });
  });

  it('needs an anchor to catch a tail cut together with a rewound head', async () => {
    const ds = await chainOf(6);
    const before = await verifyAuditChain(ds, key);
    await tamper(ds, 'DELETE FROM audit_events WHERE seq > 4');
    await tamper(ds, 'UPDATE audit_chain_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)');
    // The table alone is consistent again: this is what an anchor kept elsewhere is for.
    expect((await verifyAuditChain(ds, key)).ok).toBe(true);
    const anchor = { seq: before.headSeq, hash: before.headHash };
    expect(await verifyAuditChain(ds, key, { anchor })).toMatchObject({ ok: false, firstBadSeq: '5', problem: 'anchor_mismatch' });
  });

  it('keeps writing after the first head row was created concurrently by two writers', async () => {
    const ds = await chainOf(0);
    const ds2 = createDataSource({ url: db.url, schema: `chain_${schemas}`, poolSize: 2 });
    extra.push(ds2);
    await ds2.initialize();
    const [a, b] = [newAuditLog(ds, key), newAuditLog(ds2, key)];
    await Promise.all([a.record(event('t')), b.record(event('t')), a.record(event('t')), b.record(event('t'))]);
    expect(await verifyAuditChain(ds, key)).toMatchObject({ ok: true, checked: 4 });
  });
});
