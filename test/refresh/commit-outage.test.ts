import { TcpProxy } from '../support/tcp-proxy';
import { StormRig, startStormRig, waitFor } from './storm-support';

/**
 * SECURITY 47: the provider answered (the refresh token has rotated, strict reuse detection) and the
 * database goes away before the commit. The answer exists only in the worker's memory: the commit
 * retries with backoff for as long as the lease allows and lands once the database is back.
 * The outage is real: the worker reaches Postgres through a TCP proxy that resets and refuses.
 */
describe('a database outage between the provider answer and the commit', () => {
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

  it('SECURITY 47: a refresh commit survives an outage shorter than its lease; the rotated token is kept', async () => {
    await rig.seed(1);
    const before = await rig.row('u0');
    await rig.worker({ DATABASE_URL: proxy.rewrite(rig.v.db.url), OUTBOUND_TIMEOUT_MS: '5000', REFRESH_LEASE_SECONDS: '20' });
    rig.provider.faults.delayMs = 1000;
    await rig.v.db.ds.query(`UPDATE vault.connections SET next_refresh_at = now()`);
    await waitFor('the worker to call the provider', () => rig.provider.stats.requests === 1);
    proxy.refuseNew(true); // the database goes away while the provider is answering
    proxy.resetAll();
    await waitFor('the provider to answer (the token has rotated)', () => rig.provider.stats.responded === 1);
    await new Promise((r) => setTimeout(r, 6000)); // an outage well past a few quick retries, well inside the lease
    expect((await rig.row('u0')).version).toBe(before.version); // not committed during the outage
    proxy.refuseNew(false);

    const after = await waitFor(
      'the commit once the database is back',
      async () => {
        const r = await rig.row('u0');
        return r.version !== before.version && r;
      },
      20_000,
    );
    expect(after).toMatchObject({ status: 'active', lease_owner: null, refresh_call_started_at: null });
    expect(after.refresh_token_ct.equals(before.refresh_token_ct)).toBe(false);
    expect(rig.provider.stats).toMatchObject({ requests: 1, reuseRevocations: 0, invalidGrant: 0 });
    // The committed refresh token is the live one.
    await rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second'`);
    expect((await rig.release('u0')).status).toBe(200);
    expect(rig.provider.stats).toMatchObject({ requests: 2, reuseRevocations: 0, invalidGrant: 0 });
  });
});
