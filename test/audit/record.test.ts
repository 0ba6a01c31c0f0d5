import { Client } from 'pg';
import { AuditInputError, AuditLog, verifyAuditChain } from '../../libs/audit';
import { Secret } from '../../libs/kernel';
import { createTestDatabase, TestDatabase } from '../support/database';
import { event, newAuditLog, randomMacKey, separateClient } from './support';

describe('AuditLog.record', () => {
  let db: TestDatabase;
  let other: Client;
  let audit: AuditLog;
  const key = randomMacKey();

  beforeAll(async () => {
    db = await createTestDatabase();
    other = await separateClient(db.url);
    audit = newAuditLog(db.ds, key, { batchMax: 100 });
  });
  afterAll(async () => {
    await audit.drain();
    await other.end();
    await db.drop();
  });

  it('resolves only once the row is committed: another connection sees it', async () => {
    const receipt = await audit.record(event('t-durable', { reason: undefined, details: { scopes: ['repo'], attempt: 1 } }));
    const { rows } = await other.query('SELECT seq::text AS seq, tenant, action, outcome, details FROM audit_events WHERE id = $1', [
      receipt.id,
    ]);
    expect(rows).toEqual([
      {
        seq: receipt.seq,
        tenant: 't-durable',
        action: 'credential.release',
        outcome: 'allowed',
        details: { scopes: ['repo'], attempt: 1 },
      },
    ]);
    const head = await other.query('SELECT seq::text AS seq FROM audit_chain_head WHERE id = 1');
    expect(head.rows[0].seq).toBe(receipt.seq);
  });

  it('group-commits 500 concurrent events: gap-free seq, fewer transactions than events', async () => {
    const before = audit.stats();
    const receipts = await Promise.all(Array.from({ length: 500 }, (_, i) => audit.record(event('t-burst', { details: { i } }))));
    const after = audit.stats();

    const seqs = receipts.map((r) => BigInt(r.seq)).sort((a, b) => (a < b ? -1 : 1));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i] - seqs[i - 1]).toBe(1n);
    expect(new Set(receipts.map((r) => r.id)).size).toBe(500);

    const { rows } = await other.query(
      "SELECT count(*)::int AS n, min(seq)::text AS lo, max(seq)::text AS hi FROM audit_events WHERE tenant = 't-burst'",
    );
    expect(rows[0]).toEqual({ n: 500, lo: String(seqs[0]), hi: String(seqs[499]) });

    const flushes = after.flushes - before.flushes;
    expect(after.committedEvents - before.committedEvents).toBe(500);
    expect(flushes).toBeGreaterThanOrEqual(5); // batchMax 100
    expect(flushes).toBeLessThan(500);
    expect(after.failedFlushes).toBe(before.failedFlushes);
    expect(await verifyAuditChain(db.ds, key)).toMatchObject({ ok: true, checked: Number(seqs[499]), headSeq: String(seqs[499]) });
  });

  it('stores a Secret in details as [REDACTED]; the canary is nowhere in the row', async () => {
    const canary = `canary-${Math.random().toString(36).slice(2)}`;
    const receipt = await audit.record(event('t-secret', { details: { note: Secret.of(canary), nested: { list: [Secret.of(canary)] } } }));
    const { rows } = await other.query('SELECT row_to_json(e)::text AS text, details FROM audit_events e WHERE id = $1', [receipt.id]);
    expect(rows[0].text).not.toContain(canary);
    expect(rows[0].details).toEqual({ note: '[REDACTED]', nested: { list: ['[REDACTED]'] } });
  });

  it('hashes exactly what jsonb gives back (numbers, unicode, escapes, key order)', async () => {
    const details = {
      z: 1,
      a: { n: [0.1 + 0.2, 1e21, 1e-7, -0, 2 ** 53 + 2, -1.5e-300], s: 'é😀"\\\n\u2028', '': [] },
      ...JSON.parse('{"__proto__": "x"}'),
    };
    await audit.record(event('t-roundtrip', { details, reason: '' }));
    expect(await verifyAuditChain(db.ds, key)).toMatchObject({ ok: true });
  });

  it.each([['token'], ['access_token'], ['client_secret'], ['Password'], ['api_key'], ['apiKey'], ['refreshToken']])(
    'refuses a details key named %s (a programming error, nothing queued)',
    async (name) => {
      const before = audit.stats();
      await expect(audit.record(event('t-bad', { details: { nested: { [name]: 'x' } } }))).rejects.toBeInstanceOf(AuditInputError);
      expect(audit.stats().queued).toBe(before.queued);
    },
  );

  it.each<[string, Record<string, unknown>]>([
    ['an unknown outcome', { outcome: 'maybe' }],
    ['a malformed action', { action: "x'; DROP TABLE audit_events; --" }],
    ['a non-JSON detail', { details: { f: () => 1 } }],
    ['a NUL character', { subject: 'a\u0000b' }],
    ['a lone surrogate', { details: { s: '\ud800' } }],
    ['a non-finite number', { details: { n: Infinity } }],
  ])('refuses %s', async (_label, over) => {
    await expect(audit.record(event('t-bad', over))).rejects.toBeInstanceOf(AuditInputError);
  });

  it('never names the refused value in the error', async () => {
    const err = await audit.record(event('t-bad', { details: { password: 'hunter2-canary' } })).catch((e: Error) => e);
    expect(String(err)).toContain('password');
    expect(String(err)).not.toContain('hunter2-canary');
  });
});
