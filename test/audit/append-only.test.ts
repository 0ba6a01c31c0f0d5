import { verifyAuditChain } from '../../libs/audit';
import { createTestDatabase, TestDatabase } from '../support/database';
import { event, newAuditLog, randomMacKey } from './support';

/**
 * Migration 1100: the log is append-only for real. TRUNCATE is refused on audit_events, and the
 * chain head moves only the way the chain writer moves it (forward, onto the last row of a batch
 * that links to the old head). Only switching triggers off (a superuser) gets past this; the signed
 * anchors catch that (anchors.test.ts).
 */
describe('append-only audit tables', () => {
  let db: TestDatabase;
  const key = randomMacKey();

  beforeAll(async () => {
    db = await createTestDatabase();
    const audit = newAuditLog(db.ds, key);
    for (let i = 1; i <= 5; i++) await audit.record(event('t1', { details: { i } }));
  });
  afterAll(() => db.drop());

  const head = async () => ((await db.ds.query('SELECT seq::text AS seq FROM audit_chain_head')) as { seq: string }[])[0]?.seq;

  it.each([
    ['TRUNCATE audit_events', 'TRUNCATE audit_events', /audit_events is append-only/],
    ['TRUNCATE of both', 'TRUNCATE audit_events, audit_chain_head', /append-only|only moves forward/],
    ['TRUNCATE audit_chain_head', 'TRUNCATE audit_chain_head', /only moves forward/],
    ['DELETE the head', 'DELETE FROM audit_chain_head', /only moves forward/],
    ['rewind the head', 'UPDATE audit_chain_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)', /only moves forward/],
    ['move the head past the rows', `UPDATE audit_chain_head SET seq = 6`, /last row of an appended batch/],
    ["move the head with a hash that is not the row's", `UPDATE audit_chain_head SET seq = seq`, /only moves forward/],
  ])('refuses: %s', async (_what, sql, message) => {
    await expect(db.ds.query(sql)).rejects.toThrow(message);
    expect(await head()).toBe('5');
    expect(await verifyAuditChain(db.ds, key)).toMatchObject({ ok: true, checked: 5 });
  });

  it('refuses a head moved onto an appended row that does not link to the old head, or with another hash', async () => {
    await expect(
      db.ds.transaction(async (m) => {
        await m.query(
          `INSERT INTO audit_events (seq, id, at, tenant, action, outcome, details, prev_hash, hash)
           VALUES (6, gen_random_uuid(), now(), 't1', 'credential.release', 'allowed', '{}', $1, $1)`,
          [Buffer.alloc(32, 7)],
        );
        await m.query('UPDATE audit_chain_head SET seq = 6, hash = $1', [Buffer.alloc(32, 7)]);
      }),
    ).rejects.toThrow(/last row of an appended batch/);
    await expect(
      db.ds.transaction(async (m) => {
        await m.query(
          `INSERT INTO audit_events (seq, id, at, tenant, action, outcome, details, prev_hash, hash)
           VALUES (6, gen_random_uuid(), now(), 't1', 'credential.release', 'allowed', '{}',
             (SELECT hash FROM audit_events WHERE seq = 5), $1)`,
          [Buffer.alloc(32, 7)],
        );
        await m.query('UPDATE audit_chain_head SET seq = 6, hash = $1', [Buffer.alloc(32, 8)]);
      }),
    ).rejects.toThrow(/last row of an appended batch/);
    expect(await head()).toBe('5');
  });

  it('refuses a genesis head for a log that has rows (after the head was removed by a superuser)', async () => {
    const superuser = (sql: string) =>
      db.ds.transaction(async (m) => {
        await m.query('SET LOCAL session_replication_role = replica');
        await m.query(sql);
      });
    const [saved] = (await db.ds.query("SELECT seq::text AS seq, encode(hash, 'hex') AS hash FROM audit_chain_head")) as {
      seq: string;
      hash: string;
    }[];
    await superuser('DELETE FROM audit_chain_head');
    await expect(db.ds.query(`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '\\x${'00'.repeat(32)}')`)).rejects.toThrow(
      /genesis of an empty log/,
    );
    await superuser(`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, ${saved.seq}, '\\x${saved.hash}')`);
    expect(await head()).toBe('5');
  });

  it('still lets the chain writer append, in batches, from every process', async () => {
    const audit = newAuditLog(db.ds, key, { batchMax: 4 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => audit.record(event('t2', { details: { i } }))));
    expect(audit.stats().flushes).toBeGreaterThan(1);
    expect(await verifyAuditChain(db.ds, key)).toMatchObject({ ok: true, checked: 25, headSeq: '25' });
  });
});
