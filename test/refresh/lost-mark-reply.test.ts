import { TcpProxy } from '../support/tcp-proxy';
import { StormRig, startStormRig, waitFor } from './storm-support';

/**
 * Issue 15 (needless re-consent in bench:refresh): the worker's one write before the provider call,
 * the call-start mark, commits in Postgres but its reply is lost to an outage (connection reset,
 * new connections refused). The worker never sends the call. Before the fix it could not give the
 * lease back while the database was away and kept the mark anyway, so the next claim, seeing a call
 * that may have rotated a strict provider's token, flagged the row `refresh_indeterminate` although
 * the provider never saw the token. Now the worker, knowing it attempted no call, clears the mark
 * as it gives the lease back, retrying until the lease ends. The outage is real (TCP proxy); a
 * trigger holds the mark's UPDATE so the reset lands while it runs.
 */
describe('the call-start mark committed, its reply lost to a database outage', () => {
  let rig: StormRig;
  let proxy: TcpProxy;
  beforeAll(async () => {
    rig = await startStormRig({ graceSeconds: 0 });
    proxy = await TcpProxy.start(rig.v.db.url);
  }, 60_000);
  afterAll(async () => {
    await rig?.close();
    await proxy?.close();
  });

  it('the mark is cleared once the database is back: the row is refreshed normally, not flagged', async () => {
    await rig.seed(1);
    const ds = rig.v.db.ds;
    await ds.query(`CREATE FUNCTION vault.hold_mark() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$`);
    await ds.query(`CREATE TRIGGER hold_mark BEFORE UPDATE ON vault.connections FOR EACH ROW
      WHEN (OLD.refresh_call_started_at IS NULL AND NEW.refresh_call_started_at IS NOT NULL) EXECUTE FUNCTION vault.hold_mark()`);
    await rig.worker({ DATABASE_URL: proxy.rewrite(rig.v.db.url), OUTBOUND_TIMEOUT_MS: '4000', REFRESH_LEASE_SECONDS: '7' });
    await ds.query(`UPDATE vault.connections SET next_refresh_at = now()`);
    await waitFor('the mark being written', async () => {
      const [r] = await ds.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep'`);
      return r.n > 0;
    });
    proxy.refuseNew(true);
    proxy.resetAll();
    await new Promise((r) => setTimeout(r, 3000)); // the mark commits meanwhile; its reply went nowhere
    await ds.query(`DROP TRIGGER hold_mark ON vault.connections`);
    const marked = await rig.row('u0');
    expect(marked.refresh_call_started_at).not.toBeNull();
    expect(rig.provider.stats.requests).toBe(0);
    proxy.refuseNew(false);

    const after = await waitFor(
      'the next claim after the lease',
      async () => {
        const [r] = await ds.query(`SELECT status, last_refresh_at, last_error_class FROM vault.connections`);
        return (r.status !== 'active' || r.last_refresh_at !== null) && r;
      },
      30_000,
    );
    if (process.env.STORM_STATS) console.log(after, rig.provider.stats);
    expect(after).toMatchObject({ status: 'active', last_error_class: null });
    expect(rig.provider.stats).toMatchObject({ requests: 1, refreshed: 1, reuseRevocations: 0, invalidGrant: 0 });
  }, 60_000);
});
