import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { LogCapture } from '../support/log-capture';
import { startTestVault, TestVault } from '../support/vault';

/** The vault's own connections to its database (the test's clients are not among them). */
const OURS = `datname = $1 AND application_name = 'credential-vault-api'`;

/**
 * Shutting down while a periodic key duty (here the tenant-key cache sync, every second) is in
 * flight. The duties run on timers (KeyBackgroundTasks); shutdown used to clear the timers only,
 * so a run caught mid-way went on after the pool's end(): its next statement failed ("Cannot use
 * a pool after calling end") — for the key scheduler, after committing a destruction and before
 * auditing it. Shutdown now waits for the run in flight before the audit log drains and the pool closes.
 */
describe('key background duties at shutdown', () => {
  let v: TestVault | undefined;
  let locker: Client | undefined;
  let admin: Client | undefined;
  afterAll(async () => {
    await locker?.query('ROLLBACK').catch(() => undefined);
    await locker?.end();
    await admin?.end();
    await v?.db.drop();
  });

  it('a cache sync caught mid-way finishes before the pool closes: no statement after its end, close completes', async () => {
    const logs = new LogCapture();
    v = await startTestVault({ KEY_CACHE_SYNC_SECONDS: '1' }, { logger: logs });
    const db = new URL(v.db.url).pathname.slice(1);
    admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    const ours = async (where = 'true') =>
      (await admin!.query(`SELECT query FROM pg_stat_activity WHERE ${OURS} AND ${where}`, [db])).rows.map((r) => r.query as string);

    // The sync's second statement reads tenant_keys: held behind a lock, the run stays in flight.
    locker = new Client({ connectionString: v.db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE vault.tenant_keys IN ACCESS EXCLUSIVE MODE');
    let blocked: string[] = [];
    for (let i = 0; i < 150 && blocked.length === 0; i++, await sleep(20)) blocked = await ours(`wait_event_type = 'Lock'`);
    expect(blocked.join('\n')).toContain('tenant_keys');

    let closed = false;
    const closing = v.vault.close().then(() => (closed = true));
    // Let shutdown get as far as it goes while the run is held (without the fix: to the pool's end()).
    const pool = (v.vault.app.get(DataSource).driver as unknown as { master: { ending: boolean } }).master;
    for (let i = 0; i < 100 && !pool.ending; i++) await sleep(20);
    await locker.query('ROLLBACK'); // the sync's statement runs, then its last one
    const bound = new AbortController(); // cleared after: a timer left running keeps Jest alive past the run
    const outcome = await Promise.race([
      closing.then(() => 'closed'),
      sleep(15_000, 'still closing', { signal: bound.signal }).catch(() => 'cancelled'),
    ]).finally(() => bound.abort());
    expect(outcome).toBe('closed');
    expect(closed).toBe(true);

    expect(logs.lines.filter((l) => /cache sync failed/.test(l))).toEqual([]);
    for (let i = 0; i < 50 && (await ours()).length > 0; i++) await sleep(50);
    expect(await ours()).toEqual([]);
  });
});
