import { inspect } from 'node:util';
import { DataSource } from 'typeorm';
import { AuditLog, verifyAuditChain } from '../../libs/audit';
import { createDataSource } from '../../libs/db';
import { Secret, UnavailableError } from '../../libs/kernel';
import { createTestDatabase, TestDatabase } from '../support/database';
import { captureLogs, event, eventually, newAuditLog, randomMacKey, separateClient } from './support';
import { TcpProxy } from '../support/tcp-proxy';

/** SECURITY.md 26 and 39: a failing or hanging audit sink fails closed, and says nothing it should not. */
describe('AuditLog under faults', () => {
  let db: TestDatabase;
  let logs: ReturnType<typeof captureLogs>;
  const key = randomMacKey();
  const extra: DataSource[] = [];
  const proxies: TcpProxy[] = [];
  const canary = `CANARY-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    logs = captureLogs();
    db = await createTestDatabase();
  });
  afterAll(async () => {
    logs.restore();
    for (const p of proxies) await p.close();
    for (const ds of extra) if (ds.isInitialized) await ds.destroy();
    await db.drop();
  });

  async function throughProxy(): Promise<{ proxy: TcpProxy; ds: DataSource }> {
    const proxy = await TcpProxy.start(db.url);
    proxies.push(proxy);
    const ds = createDataSource({ url: proxy.rewrite(db.url), schema: 'vault', poolSize: 3 });
    extra.push(ds);
    await ds.initialize();
    return { proxy, ds };
  }

  async function countRows(action: string): Promise<number> {
    const [{ n }] = await db.ds.query('SELECT count(*)::int AS n FROM audit_events WHERE action = $1', [action]);
    return n;
  }

  it('rejects with UnavailableError when the database is gone (from the flush, not the timer)', async () => {
    const { proxy, ds } = await throughProxy();
    const audit = newAuditLog(ds, key, { timeoutMs: 5000 });
    await audit.record(event('t', { action: 'test.before_outage' }));
    // The database is gone: live connections reset, new ones refused.
    proxy.refuseNew(true);
    proxy.resetAll();

    const err = await audit.record(event('t', { action: 'test.outage', subject: canary })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ code: 'unavailable', status: 503 });
    expect(audit.stats()).toMatchObject({ timeouts: 0, failedFlushes: 1 });
    expect(await countRows('test.outage')).toBe(0);
  });

  it('rejects within timeoutMs while another transaction holds the chain head; nothing becomes durable', async () => {
    const audit = newAuditLog(db.ds, key, { timeoutMs: 300 });
    await audit.record(event('t', { action: 'test.before_lock' }));
    const locker = await separateClient(db.url);
    await locker.query('BEGIN');
    await locker.query('SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE');
    try {
      const results = await Promise.allSettled([
        audit.record(event('t', { action: 'test.hung' })),
        audit.record(event('t', { action: 'test.hung' })),
      ]);
      // Both gave up while the lock is still held: the flush did not make them wait for it.
      for (const r of results) expect(r).toMatchObject({ status: 'rejected', reason: expect.any(UnavailableError) });
      // And the flush itself gave up waiting for the lock (statement_timeout), rather than holding a connection.
      await eventually(() => audit.stats().failedFlushes >= 1);
      expect(logs.lines.some((l) => l.includes('57014'))).toBe(true);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    await audit.drain();
    expect(await countRows('test.hung')).toBe(0);

    // The log recovers once the lock is gone, and the chain is intact.
    await audit.record(event('t', { action: 'test.after_lock' }));
    expect((await verifyAuditChain(db.ds, key)).ok).toBe(true);
  });

  it('abandons a flush stuck on a dead network (watchdog) and recovers when it heals', async () => {
    const { proxy, ds } = await throughProxy();
    const audit = newAuditLog(ds, key, { timeoutMs: 300 });
    await audit.record(event('t', { action: 'test.before_blackhole' }));
    proxy.pause();

    await expect(audit.record(event('t', { action: 'test.blackhole' }))).rejects.toBeInstanceOf(UnavailableError);
    await eventually(() => audit.stats().failedFlushes >= 1);
    expect(logs.lines.some((l) => l.includes('watchdog'))).toBe(true);

    proxy.resume();
    await expect(audit.record(event('t', { action: 'test.after_blackhole' }))).resolves.toMatchObject({ seq: expect.any(String) });
    expect(await countRows('test.blackhole')).toBe(0);
    expect((await verifyAuditChain(db.ds, key)).ok).toBe(true);
  });

  it('leaks neither SQL nor parameters when the database refuses the batch', async () => {
    // A real database error whose message quotes the row, as constraint errors do.
    await db.ds.query(`CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused row %', row_to_json(NEW)::text; END $$`);
    await db.ds.query('CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_refuse()');
    const audit: AuditLog = newAuditLog(db.ds, key);
    try {
      const failures = await Promise.all([
        audit.record(event('t', { action: 'test.refused', subject: canary, details: { note: canary } })).catch((e: unknown) => e),
        audit.record(event('t', { action: 'test.refused', details: { note: Secret.of(canary) } })).catch((e: unknown) => e),
      ]);
      for (const err of failures) {
        expect(err).toBeInstanceOf(UnavailableError);
        const e = err as UnavailableError;
        expect(e.cause).toBeUndefined();
        for (const text of [e.message, e.detail, String(e.stack), JSON.stringify(e), inspect(e, { depth: 10, showHidden: true })]) {
          expect(text).not.toContain(canary);
          expect(text).not.toMatch(/INSERT|audit_events|refused row/);
        }
      }
    } finally {
      await db.ds.query('DROP TRIGGER audit_refuse ON audit_events');
    }
    expect(await countRows('test.refused')).toBe(0);
  });

  it('never logged a canary, SQL or parameters', () => {
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const line of logs.lines) {
      expect(line).not.toContain(canary);
      expect(line).not.toMatch(/INSERT|SELECT|audit_events/);
    }
  });
});
