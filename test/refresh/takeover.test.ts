import { StormRig, startStormRig, waitFor } from './storm-support';

/**
 * SECURITY 45 and the reuse grace window: what a successor does with rows a killed worker held.
 * Claiming a row is not calling for it: only the row whose provider call had started may have a
 * rotated refresh token. A provider that accepts the previous token for a while after rotating it
 * lets the successor retry within that window instead of flagging the row.
 */
const WORKER = { OUTBOUND_TIMEOUT_MS: '5000', REFRESH_LEASE_SECONDS: '7', REFRESH_CONCURRENCY: '1', REFRESH_BATCH_SIZE: '10' };

async function killMidCall(rig: StormRig, users: number): Promise<void> {
  const first = await rig.worker(WORKER);
  const calls = rig.provider.stats.requests;
  rig.provider.faults.delayMs = 60_000; // the first call is processed (rotated) and never heard of
  await rig.v.db.ds.query(`UPDATE vault.connections SET next_refresh_at = now(), expires_at = now() + interval '20 seconds'`);
  await waitFor('the worker to claim the batch and call for one row', () => rig.provider.stats.requests === calls + 1);
  const claimed = await rig.v.db.ds.query(`SELECT count(*)::int AS n FROM vault.connections WHERE lease_owner IS NOT NULL`);
  expect(claimed[0].n).toBe(users); // the whole batch is claimed, one call is in flight
  await first.kill('SIGKILL');
  rig.provider.faults.delayMs = 0;
  // Time passes beyond the dead worker's leases.
  await rig.v.db.ds.query(`UPDATE vault.connections SET lease_expires_at = now() - interval '1 second' WHERE lease_owner IS NOT NULL`);
}

describe('a worker killed mid-batch (strict reuse detection, no grace)', () => {
  let rig: StormRig;
  beforeAll(async () => {
    rig = await startStormRig({ graceSeconds: 0 });
  }, 60_000);
  afterAll(() => rig?.close());

  it(
    'SECURITY 45: rows whose provider call had not started are refreshed normally by a successor; only the one in ' + 'flight is flagged',
    async () => {
      await rig.seed(4);
      const before = await rig.v.db.ds.query(`SELECT subject, version FROM vault.connections ORDER BY subject`);
      await killMidCall(rig, 4);
      const started = await rig.v.db.ds.query(`SELECT subject FROM vault.connections WHERE refresh_call_started_at IS NOT NULL`);
      expect(started).toHaveLength(1);

      await rig.worker(WORKER);
      const rows = await waitFor(
        'the successor to settle every row',
        async () => {
          const r = await rig.v.db.ds.query(`SELECT subject, status, version FROM vault.connections ORDER BY subject`);
          return r.every((x: any, i: number) => x.status !== 'active' || x.version !== before[i].version) && r;
        },
        30_000,
      );
      const flagged = rows.filter((r: any) => r.status !== 'active');
      expect(flagged).toEqual([{ subject: started[0].subject, status: 'refresh_indeterminate', version: expect.anything() }]);
      expect(rig.provider.stats).toMatchObject({ reuseRevocations: 0, invalidGrant: 0 });
      // Every refreshed row holds a live refresh token: a release after expiry refreshes again and works.
      const healthy = rows.filter((r: any) => r.status === 'active').map((r: any) => r.subject);
      expect(healthy).toHaveLength(3);
      await rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second'`);
      for (const user of healthy) expect((await rig.release(user)).status).toBe(200);
      expect(rig.provider.stats.reuseRevocations).toBe(0);
    },
  );
});

describe('a worker killed mid-call (provider with a reuse grace window)', () => {
  let rig: StormRig;
  beforeAll(async () => {
    rig = await startStormRig({ graceSeconds: 30 });
  }, 60_000);
  afterAll(() => rig?.close());
  afterEach(async () => {
    await Promise.all(rig.workers.splice(0).map((w) => w.kill('SIGKILL')));
    await rig.v.db.ds.query(`DELETE FROM vault.connections`);
  });

  it('within the window, the successor retries with the same refresh token: the rotated token is recovered, nothing flagged', async () => {
    await rig.seed(1);
    const before = await rig.row('u0');
    await killMidCall(rig, 1);
    await rig.worker(WORKER);
    const after = await waitFor(
      'the successor to refresh',
      async () => {
        const r = await rig.row('u0');
        return r.version !== before.version && r;
      },
      30_000,
    );
    expect(after).toMatchObject({ status: 'active', refresh_call_started_at: null });
    expect(rig.provider.stats).toMatchObject({ graceReuses: 1, reuseRevocations: 0, invalidGrant: 0 });
    await rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second'`);
    expect((await rig.release('u0')).status).toBe(200);
    expect(rig.provider.stats.reuseRevocations).toBe(0);
  });

  it('past the window, the successor makes no second call and flags the row', async () => {
    await rig.seed(1);
    await killMidCall(rig, 1);
    await rig.v.db.ds.query(`UPDATE vault.connections SET refresh_call_started_at = refresh_call_started_at - interval '40 seconds'`);
    const requests = rig.provider.stats.requests;
    await rig.worker(WORKER);
    await waitFor('the successor to flag the row', async () => (await rig.row('u0')).status === 'refresh_indeterminate', 30_000);
    expect(rig.provider.stats.requests).toBe(requests);
    expect(rig.provider.stats.reuseRevocations).toBe(0);
  });
});

describe('SIGTERM during a batch (strict reuse detection)', () => {
  let rig: StormRig;
  beforeAll(async () => {
    rig = await startStormRig({ graceSeconds: 0 });
  }, 60_000);
  afterAll(() => rig?.close());

  it(
    'the worker stops claiming, finishes the call in flight and its commit, gives the rest back untouched, then exits; ' +
      'nothing is lost',
    async () => {
      await rig.seed(4);
      const before = await rig.v.db.ds.query(`SELECT subject, version FROM vault.connections ORDER BY subject`);
      const w = await rig.worker({ ...WORKER, REFRESH_LEASE_SECONDS: '30' }); // room for the whole batch in one lease
      rig.provider.faults.delayMs = 1500;
      await rig.v.db.ds.query(`UPDATE vault.connections SET next_refresh_at = now(), expires_at = now() + interval '20 seconds'`);
      await waitFor('the worker to call for the first row', () => rig.provider.stats.requests === 1);
      await w.kill('SIGTERM'); // resolves once the process has exited
      const rows = await rig.v.db.ds.query(
        `SELECT subject, status, version, lease_owner, refresh_call_started_at FROM vault.connections ORDER BY subject`,
      );
      expect(rig.provider.stats).toMatchObject({ requests: 1, responded: 1, reuseRevocations: 0 });
      const changed = rows.filter((r: any, i: number) => r.version !== before[i].version);
      expect(changed).toHaveLength(1); // the call in flight was committed before the exit
      expect(rows.every((r: any) => r.status === 'active' && r.lease_owner === null && r.refresh_call_started_at === null)).toBe(true);

      rig.provider.faults.delayMs = 0;
      await rig.worker(WORKER);
      await waitFor(
        'a successor to refresh the rest',
        async () => {
          const r = await rig.v.db.ds.query(`SELECT version FROM vault.connections ORDER BY subject`);
          return r.every((x: any, i: number) => x.version !== before[i].version);
        },
        30_000,
      );
      expect(rig.provider.stats).toMatchObject({ requests: 4, reuseRevocations: 0, invalidGrant: 0 });
    },
  );
});
