import { asTenantId, Secret } from '../../libs/kernel';
import { ConnectionStore, OAuthCredentialStore } from '../../libs/connections';
import { ProviderCatalog, REFRESH_AHEAD } from '../../libs/oauth';
import { StormRig, startStormRig, waitFor } from './storm-support';

/**
 * SECURITY 46 and the release path's waits: a release never hands out an expired token, never waits
 * on another process's refresh longer than REFRESH_RELEASE_WAIT_MS, and does not wait at all while
 * the current token still works. "Another process" holds the lease (a ghost owner) and commits a
 * new token later through the real store, as a slow refresher in another process would.
 */
describe('release while another process refreshes', () => {
  let rig: StormRig;
  let ttl = 3600;
  const WAIT_MS = 1000;
  const q = (sql: string, params: unknown[] = []) => rig.v.db.ds.query(sql, params);
  /** A holder that died before its call started: its lease runs out 200 ms from now, no call mark; the token has expired. */
  const ghostDiesSoon = (user: string) =>
    q(
      `UPDATE vault.connections SET expires_at = now() - interval '5 seconds', lease_owner = 'ghost:1:x', ` +
        `lease_expires_at = now() + interval '200 milliseconds' WHERE subject = $1`,
      [user],
    );
  /** The refresh token stored for `user`, opened. */
  const refreshTokenOf = async (user: string) => {
    const store = rig.v.vault.app.get(OAuthCredentialStore);
    const [row] = await q(`SELECT id FROM vault.connections WHERE subject = $1`, [user]);
    return (await store.openTokens((await store.load(asTenantId('acme'), row.id))!)).refresh?.reveal();
  };
  const ghostLease = (user: string) =>
    q(`UPDATE vault.connections SET lease_owner = 'ghost:1:x', lease_expires_at = now() + interval '30 seconds' WHERE subject = $1`, [
      user,
    ]);
  /** The ghost commits a fresh token after `ms` (compare-and-set on the version it claimed). */
  const ghostCommitsAfter = (user: string, ms: number) =>
    new Promise<void>((resolve, reject) =>
      setTimeout(async () => {
        try {
          const store = rig.v.vault.app.get(OAuthCredentialStore);
          const [row] = await q(`SELECT id FROM vault.connections WHERE subject = $1`, [user]);
          const c = (await store.load(asTenantId('acme'), row.id))!;
          const ok = await store.commitRefresh(
            c,
            {
              accessToken: Secret.of('at_from_ghost'),
              refreshToken: Secret.of('rt_from_ghost'),
              expiresAt: new Date(Date.now() + 3600_000),
              refreshTokenExpiresAt: null,
              scopes: ['read'],
              metadata: {},
            },
            null,
          );
          if (!ok.written) throw new Error('ghost commit lost');
          resolve();
        } catch (err) {
          reject(err);
        }
      }, ms),
    );

  beforeAll(async () => {
    rig = await startStormRig({
      graceSeconds: 0,
      accessTtl: () => ttl,
      env: { REFRESH_RELEASE_WAIT_MS: String(WAIT_MS), OUTBOUND_TIMEOUT_MS: '20000', REFRESH_LEASE_SECONDS: '30' },
    });
    await rig.seed(7);
  }, 60_000);
  afterAll(() => rig?.close());

  it('the current token still works: it is released at once, without waiting for the other refresh', async () => {
    // 100 s token, 10 s left: due on release (under 25 % of its life), but still good.
    await q(
      `UPDATE vault.connections SET token_issued_at = now() - interval '90 seconds', expires_at = now() + interval ` +
        `'10 seconds' WHERE subject = 'u0'`,
    );
    await ghostLease('u0');
    const ghost = ghostCommitsAfter('u0', 3000);
    const r = await rig.release('u0');
    expect(r.status).toBe(200);
    expect(r.body.access_token).toBe(rig.accessOf.u0); // not the one committed later
    await ghost;
  });

  it(
    'SECURITY 46: the token has expired and the other refresh takes longer than REFRESH_RELEASE_WAIT_MS → 503 ' +
      'unavailable with Retry-After, nothing released',
    async () => {
      await q(`UPDATE vault.connections SET expires_at = now() - interval '5 seconds' WHERE subject = 'u1'`);
      await ghostLease('u1');
      const ghost = ghostCommitsAfter('u1', 3000);
      const r = await rig.release('u1');
      expect(r.status).toBe(503);
      expect(r.body.code ?? r.body.type).toMatch(/unavailable/);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.text).not.toContain(rig.accessOf.u1);
      await ghost;
      const after = await rig.release('u1'); // once the other refresh committed, the new token is released
      expect(after).toMatchObject({ status: 200, body: expect.objectContaining({ access_token: 'at_from_ghost' }) });
    },
  );

  it(
    'issue 15: the other holder dies; the release that waited takes the refresh over, answers 503 once its wait budget is ' +
      'spent, and the refresh commits in the background (one provider call) for the next release',
    async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (err: unknown) => unhandled.push(err);
      process.on('unhandledRejection', onUnhandled);
      rig.provider.faults.delayMs = 2500; // the provider holds its answer longer than the release may wait
      try {
        await ghostDiesSoon('u5');
        const requests = rig.provider.stats.requests;
        const began = Date.now();
        const r = await rig.release('u5');
        const took = Date.now() - began;
        expect(r.status).toBe(503);
        expect(r.body.code ?? r.body.type).toMatch(/unavailable/);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(r.text).not.toContain(rig.accessOf.u5);
        expect(took).toBeLessThan(WAIT_MS + 1000);
        // The release took the call over: it is on its way to the provider, under this process's lease.
        await waitFor('the call taken over', () => rig.provider.stats.requests === requests + 1);
        expect((await rig.row('u5')).lease_owner).not.toBe('ghost:1:x');

        // Meanwhile another release of the same connection joins that refresh (no second call), bounded the same way.
        const joined = await rig.release('u5');
        expect([200, 503]).toContain(joined.status);

        const committed = await waitFor('the background refresh to commit', async () => {
          const row = await rig.row('u5');
          return row.lease_owner === null && row.expires_at > new Date() && row;
        });
        expect(committed).toMatchObject({ status: 'active', refresh_call_started_at: null, last_error_class: null });
        const after = await rig.release('u5');
        expect(after.status).toBe(200);
        expect(after.body.access_token).not.toBe(rig.accessOf.u5);
        expect(rig.provider.access.has(after.body.access_token)).toBe(true);
        expect(rig.provider.stats.requests).toBe(requests + 1);
        expect(rig.provider.stats.reuseRevocations).toBe(0);

        // The refresh taken over ends in a refusal after its caller left: the row is flagged, nothing is left unhandled.
        const family = rig.provider.familyOf((await refreshTokenOf('u6'))!)!;
        family.revoked = true;
        await ghostDiesSoon('u6');
        const r6 = await rig.release('u6');
        expect(r6.status).toBe(503);
        await waitFor('the background refresh to end', async () => (await rig.row('u6')).status === 'needs_reauth');
        expect((await rig.release('u6')).status).toBe(409);
        await new Promise((resolve) => setImmediate(resolve));
        expect(unhandled).toEqual([]);
        const audits = await q(
          `SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'credential.release' AND reason = 'provider_unavailable'`,
        );
        expect(audits[0].n).toBeGreaterThanOrEqual(2);
      } finally {
        rig.provider.faults.delayMs = 0;
        process.off('unhandledRejection', onUnhandled);
      }
    },
    30_000,
  );

  it('SECURITY 46: a refresh that yields a token already at its end → 503 with Retry-After, not a dead token', async () => {
    ttl = 1; // the provider answers with expires_in=1
    try {
      await q(`UPDATE vault.connections SET expires_at = now() - interval '1 second' WHERE subject = 'u2'`);
      const requests = rig.provider.stats.requests;
      const r = await rig.release('u2');
      expect(rig.provider.stats.requests).toBe(requests + 1);
      expect(r.status).toBe(503);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.body.access_token).toBeUndefined();
    } finally {
      ttl = 3600;
    }
  });

  it('the ahead window scales with the token: 40 s left of 100 s is not refreshed on release, 20 s left is', async () => {
    const requests = rig.provider.stats.requests;
    await q(
      `UPDATE vault.connections SET token_issued_at = now() - interval '60 seconds', expires_at = now() + interval ` +
        `'40 seconds' WHERE subject = 'u3'`,
    );
    const kept = await rig.release('u3');
    expect(kept.status).toBe(200);
    expect(kept.body.access_token).toBe(rig.accessOf.u3);
    expect(rig.provider.stats.requests).toBe(requests);
    await q(
      `UPDATE vault.connections SET token_issued_at = now() - interval '80 seconds', expires_at = now() + interval ` +
        `'20 seconds' WHERE subject = 'u3'`,
    );
    const refreshed = await rig.release('u3');
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(rig.accessOf.u3);
    expect(rig.provider.stats.requests).toBe(requests + 1);
  });

  it("the release read carries the connection's provider, whose catalog entry sizes the window (issue 16: one place decides)", async () => {
    const [row] = await q(`SELECT integration FROM vault.connections WHERE subject = 'u4'`);
    const c = await rig.v.vault.app.get(ConnectionStore).findForRelease(asTenantId('acme'), row.integration, 'u4');
    expect(c?.provider).toBe('custom-oauth2');
    const window = rig.v.vault.app.get(ProviderCatalog).refreshWindow(c!.provider);
    expect(window).toMatchObject({ aheadSeconds: REFRESH_AHEAD.aheadSeconds, releaseAheadSeconds: REFRESH_AHEAD.releaseAheadSeconds });
    // A row from before token_issued_at gets the whole release window: refreshed with 59 s left, not with 61 s.
    const requests = rig.provider.stats.requests;
    await q(`UPDATE vault.connections SET token_issued_at = NULL, expires_at = now() + make_interval(secs => $1) WHERE subject = 'u4'`, [
      window.releaseAheadSeconds + 30,
    ]);
    expect((await rig.release('u4')).body.access_token).toBe(rig.accessOf.u4);
    expect(rig.provider.stats.requests).toBe(requests);
    await q(`UPDATE vault.connections SET token_issued_at = NULL, expires_at = now() + make_interval(secs => $1) WHERE subject = 'u4'`, [
      window.releaseAheadSeconds - 5,
    ]);
    const refreshed = await rig.release('u4');
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(rig.accessOf.u4);
    expect(rig.provider.stats.requests).toBe(requests + 1);
  });
});
