import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { StormRig, startStormRig, waitFor } from './storm-support';

/** The vault's own connections to its database (the test's clients are not among them). */
const OURS = `datname = $1 AND application_name = 'credential-vault-api'`;

/**
 * Shutting down while a refresh runs with no caller left to wait for it (issue 15: the release that
 * took a dead holder's lease over answered 503 once its budget was spent; the refresh goes on in the
 * background). Draining the HTTP requests does not wait for it: unless the refresher itself holds
 * shutdown until it ends, the pool closes under it, and the provider's answer (the refresh token
 * already rotated) cannot be committed: the connection keeps a refresh token the provider replaced.
 */
describe('a background refresh at shutdown', () => {
  let rig: StormRig | undefined;
  let admin: Client | undefined;
  afterAll(async () => {
    await admin?.end();
    await rig?.v.db.drop();
    await rig?.provider.close();
  });

  it('finishes and commits the rotated refresh token before the pool closes; close then completes', async () => {
    rig = await startStormRig({
      graceSeconds: 0,
      env: { REFRESH_RELEASE_WAIT_MS: '1000', OUTBOUND_TIMEOUT_MS: '20000', REFRESH_LEASE_SECONDS: '30' },
    });
    await rig.seed(1);
    const r = rig;
    const db = new URL(r.v.db.url).pathname.slice(1);
    admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    const ours = async () => (await admin!.query(`SELECT query FROM pg_stat_activity WHERE ${OURS}`, [db])).rows;

    // Another holder whose lease runs out at once, on an expired token: the release waits, takes over, gives up.
    await r.v.db.ds.query(
      `UPDATE vault.connections SET expires_at = now() - interval '5 seconds', lease_owner = 'ghost:1:x', ` +
        `lease_expires_at = now() + interval '200 milliseconds' WHERE subject = 'u0'`,
    );
    r.provider.faults.delayMs = 3000; // the provider rotates the token, then holds its answer past the release's wait
    const requests = r.provider.stats.requests;
    expect((await r.release('u0')).status).toBe(503);
    await waitFor('the call taken over', () => r.provider.stats.requests === requests + 1);

    const closing = r.v.vault.close();
    const bound = new AbortController(); // cleared after: a timer left running keeps Jest alive past the run
    const outcome = await Promise.race([
      closing.then(() => 'closed'),
      sleep(30_000, 'still closing', { signal: bound.signal }).catch(() => 'cancelled'),
    ]).finally(() => bound.abort());
    expect(outcome).toBe('closed');
    expect(r.provider.stats.responded).toBe(requests + 1); // close waited for the answer

    // The answer was committed: the lease is given back and the stored refresh token is the provider's current one.
    const row = await r.row('u0');
    expect(row).toMatchObject({ status: 'active', lease_owner: null, refresh_call_started_at: null });
    expect(row.expires_at.getTime()).toBeGreaterThan(Date.now());
    expect(await ours()).toEqual([]);
  });
});
