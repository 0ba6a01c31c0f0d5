import { asTenantId, Secret } from '../../libs/kernel';
import { ConnectionStore, OAuthCredentialStore } from '../../libs/connections';
import { ProviderCatalog, REFRESH_AHEAD } from '../../libs/oauth';
import { StormRig, startStormRig } from './storm-support';

/**
 * SECURITY 46 and the release path's waits: a release never hands out an expired token, never waits
 * on another process's refresh longer than REFRESH_RELEASE_WAIT_MS, and does not wait at all while
 * the current token still works. "Another process" holds the lease (a ghost owner) and commits a
 * new token later through the real store, as a slow refresher in another process would.
 */
describe('release while another process refreshes', () => {
  let rig: StormRig;
  let ttl = 3600;
  const q = (sql: string, params: unknown[] = []) => rig.v.db.ds.query(sql, params);
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
      env: { REFRESH_RELEASE_WAIT_MS: '500', OUTBOUND_TIMEOUT_MS: '20000', REFRESH_LEASE_SECONDS: '30' },
    });
    await rig.seed(5);
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
