import { Client } from 'pg';
import { RefreshRig, startRefreshRig, waitFor } from './support';

/**
 * SECURITY 33: our own fault comes first. With its database unreachable a worker cannot take a
 * lease, so it calls no provider (a refresh it could not commit would burn a rotating refresh
 * token); it keeps running and refreshes once the database is back.
 */
describe('worker with the database unreachable', () => {
  let rig: RefreshRig;
  let dbName: string;
  let server: Client; // connected to the cluster's `postgres` database: ALTER DATABASE cannot target its own
  const admin = () => server;

  beforeAll(async () => {
    rig = await startRefreshRig({ mode: 'rotating', users: ['alice'] });
    [{ current_database: dbName }] = await rig.v.db.ds.query('SELECT current_database()');
    const url = new URL(rig.v.db.url);
    url.pathname = '/postgres';
    server = new Client({ connectionString: url.toString() });
    await server.connect();
  }, 60_000);
  afterAll(async () => {
    await server?.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`).catch(() => undefined);
    await server?.end();
    await rig?.close();
  });

  it('SECURITY 33: no lease → no provider call; the worker survives and refreshes after the database returns', async () => {
    const w = await rig.worker({ REFRESH_POLL_INTERVAL_MS: '20' });
    const before = await rig.row('alice');
    await rig.provider.reset();
    // Cut the worker off: no new connections to this database, its open ones terminated.
    await admin().query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
    const {
      rows: [{ n }],
    } = await admin().query(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = ` +
        `'credential-vault-worker'`,
      [dbName],
    );
    expect(n).toBeGreaterThan(0);
    await rig.makeDue('alice');
    // Give the worker many claim attempts (its poll interval is 20 ms, backing off to 640 ms): all fail.
    await new Promise((r) => setTimeout(r, 3000));
    expect(w.proc.exitCode).toBeNull();
    expect((await rig.provider.stats()).tokenRequests).toBe(0);
    expect(await rig.row('alice')).toMatchObject({ version: before.version, lease_owner: null, status: 'active' });

    await admin().query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
    const after = await waitFor(
      'the refresh once the database is back',
      async () => {
        const r = await rig.row('alice');
        return r.version !== before.version && r;
      },
      40_000,
    );
    expect(after).toMatchObject({ status: 'active', lease_owner: null });
    expect(await rig.provider.stats()).toMatchObject({ tokenRequests: 1, tokenErrors: {} });
    expect(w.output.join('')).toMatch(/refresh claim failed/);
  });
});
