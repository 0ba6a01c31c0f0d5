import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { startTestVault, TestVault } from '../support/vault';
import { TcpProxy } from '../support/tcp-proxy';

/**
 * Shutting down while the revocation feed is reconnecting. The feed's reconnect holds a pool
 * client; if it finished after shutdown began and kept that client, the pool's end() would wait
 * for it forever and the process (or a test run) would never exit (seen in CI: a replica's
 * close hung past its hook's timeout and kept Jest alive).
 */
/** The vault's own connections to its database (the test's direct DataSource is not one of them). */
const OURS = `datname = $1 AND application_name = 'credential-vault-api'`;

describe('revocation feed at shutdown', () => {
  let proxy: TcpProxy;
  let v: TestVault | undefined;
  let admin: Client | undefined;
  afterAll(async () => {
    await admin?.end();
    proxy?.resume();
    await v?.db.drop();
    await proxy?.close();
  });

  it('a reconnect in flight when the vault closes is abandoned and its connection released, so close completes', async () => {
    proxy = await TcpProxy.start(process.env.TEST_DATABASE_URL!);
    v = await startTestVault({}, { databaseUrl: (url) => proxy.rewrite(url) });
    const db = new URL(v.db.url).pathname.slice(1);
    admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    const ours = async () => (await admin!.query(`SELECT query FROM pg_stat_activity WHERE ${OURS}`, [db])).rows.map((r) => r.query);
    // Its one LISTEN connection (revocations subscribe at start-up).
    expect((await ours()).filter((q) => q.startsWith('LISTEN '))).toEqual([`LISTEN vault_tokens_revoked`]);
    // Every connection of the vault reset (the LISTEN one with them), then the database hangs:
    // the LISTEN connection's next retry (PgNotifications) starts a reconnect that cannot finish.
    const accepted = proxy.counters().accepted;
    proxy.resetAll();
    proxy.pause();
    for (let i = 0; i < 100 && proxy.counters().accepted === accepted; i++) await sleep(20);
    expect(proxy.counters().accepted).toBeGreaterThan(accepted);
    await sleep(1200); // past two ticks: the reconnect is surely waiting on the hung connection

    let closed = false;
    const closing = v.vault.close().then(() => (closed = true));
    await sleep(300);
    proxy.resume(); // the reconnect's LISTEN now succeeds, after shutdown began
    const deadline = new AbortController();
    const outcome = await Promise.race([
      closing.then(() => 'closed'),
      sleep(15_000, undefined, { signal: deadline.signal }).then(
        () => 'still closing',
        () => 'aborted',
      ),
    ]);
    deadline.abort(); // no timer left behind once close is done
    expect(outcome).toBe('closed');
    expect(closed).toBe(true);

    // Nothing of the vault is left on the server: no LISTEN connection kept past the end.
    for (let i = 0; i < 50 && (await ours()).length > 0; i++) await sleep(50);
    expect(await ours()).toEqual([]);
  });
});
