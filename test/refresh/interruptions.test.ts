import { RefreshRig, startRefreshRig, waitFor } from './support';

/**
 * SECURITY 31, 32 and 34: refreshers that stall past their lease or die between the provider's
 * answer and the commit. "The lease ran out" is produced by moving `lease_expires_at` into the
 * past (time passing), "died" by SIGSTOP/SIGKILL of a real worker process.
 */
describe('interrupted refreshes (rotating provider: reuse of a rotated refresh token revokes the family)', () => {
  let rig: RefreshRig;
  const expireLeases = () =>
    rig.v.db.ds.query(`UPDATE vault.connections SET lease_expires_at = now() - interval '1 second' WHERE lease_owner IS NOT NULL`);

  beforeAll(async () => {
    rig = await startRefreshRig({ mode: 'rotating', users: ['alice', 'bob'] });
    await rig.provider.reset(); // count only refresh traffic
  }, 60_000);
  afterAll(() => rig?.close());
  afterEach(async () => {
    await Promise.all(rig.workers.splice(0).map((w) => w.kill('SIGKILL')));
    await rig.provider.reset();
  });

  it(
    'SECURITY 31: provider slower than the lease → the successor makes no second call, the stale ' +
      "writer's compare-and-set is rejected, no invalid_grant, the latest token is kept",
    async () => {
      const w = await rig.worker();
      const before = await rig.row('alice');
      await rig.provider.faults({ responseDelayMs: 4000 });
      await rig.makeDue('alice');
      await waitFor('the worker to call the provider', async () => (await rig.provider.stats()).tokenRequests === 1);
      await expireLeases(); // the provider is still answering when the worker's lease runs out

      // A release needs the token now: it takes the lease over, sees the interrupted refresh and does not call again.
      const during = await rig.release('alice');
      expect(during.status).toBe(409);
      const flagged = await rig.row('alice');
      expect(flagged).toMatchObject({
        status: 'refresh_indeterminate',
        last_error_class: 'interrupted',
        interrupted_owner: expect.stringContaining(`:${w.proc.pid}:`),
      });

      // The worker's answer arrives: its compare-and-set on (version, lease owner) fails; as the interrupted owner it rescues the row.
      const rescued = await waitFor('the interrupted worker to commit its answer', async () => {
        const r = await rig.row('alice');
        return r.status === 'active' && r;
      });
      expect(rescued.refresh_token_ct.equals(before.refresh_token_ct)).toBe(false);
      expect(rescued.interrupted_owner).toBeNull();
      const stats = await rig.provider.stats();
      expect(stats.tokenRequests).toBe(1);
      expect(stats.tokenErrors).toEqual({});
      // The worker audits right after its commit: wait for the record rather than race it.
      const audit = await waitFor('the rescue to be audited', async () => {
        const a = await rig.refreshAudit();
        return a.at(-1)?.details?.rescued && a;
      });
      expect(audit.at(-2)).toMatchObject({
        outcome: 'error',
        reason: 'refresh_indeterminate',
        details: expect.objectContaining({ interrupted: true, trigger: 'on_demand' }),
      });
      expect(audit.at(-1)).toMatchObject({
        outcome: 'allowed',
        details: expect.objectContaining({ rescued: true, rotated: true, trigger: 'scheduled' }),
      });
      await waitFor('the rescue to be logged', () => w.output.join('').includes('refresh rescued after takeover'));

      // The rescued refresh token is the live one: the next refresh works.
      await rig.provider.reset();
      await rig.makeDue('alice');
      expect((await rig.release('alice')).status).toBe(200);
      expect(await rig.provider.stats()).toMatchObject({ tokenRequests: 1, tokenErrors: {} });
    },
  );

  it(
    'the interrupted call is refused by the provider (503): the flag its successor set is cleared, nothing was rotated, ' +
      'the token is kept',
    async () => {
      const w = await rig.worker();
      const before = await rig.row('alice');
      await rig.provider.faults({ latencyMs: 4000, next: [{ status: 503, body: { error: 'temporarily_unavailable' } }] });
      await rig.makeDue('alice');
      await waitFor('the worker to call the provider', async () => (await rig.provider.stats()).tokenRequests === 1);
      await expireLeases();
      const during = await rig.release('alice'); // takes the lease over: no second call, the row is flagged
      expect(during.status).toBe(409);
      expect((await rig.row('alice')).status).toBe('refresh_indeterminate');

      const cleared = await waitFor('the worker to clear the flag after the 503', async () => {
        const r = await rig.row('alice');
        return r.status === 'active' && r;
      });
      expect(cleared).toMatchObject({ last_error_class: expect.stringMatching(/^transient:/), interrupted_owner: null, lease_owner: null });
      expect(cleared.refresh_token_ct.equals(before.refresh_token_ct)).toBe(true);
      await waitFor('the clearing to be logged', () => w.output.join('').includes('refresh_indeterminate cleared'));
      expect(await rig.provider.stats()).toMatchObject({ tokenRequests: 1 });

      // The kept refresh token is still the live one.
      await rig.provider.reset();
      expect((await rig.release('alice')).status).toBe(200);
      expect(await rig.provider.stats()).toMatchObject({ tokenRequests: 1, tokenErrors: {} });
    },
  );

  it(
    "SECURITY 34: kill -9 after the provider's 200 and before the commit → after a restart the " +
      'credential is flagged refresh_indeterminate with an alert, never silently lost',
    async () => {
      const first = await rig.worker({ OUTBOUND_TIMEOUT_MS: '5000', REFRESH_LEASE_SECONDS: '7' });
      const before = await rig.row('bob');
      await rig.provider.faults({ responseDelayMs: 1500 }); // well inside the worker's 5 s timeout, so SIGSTOP lands mid-call
      await rig.makeDue('bob');
      await waitFor('the worker to call the provider', async () => (await rig.provider.stats()).tokenRequests === 1);
      first.proc.kill('SIGSTOP'); // the refresh token is rotated at the provider; the answer is on its way
      await waitFor('the provider to answer', async () => (await rig.provider.stats()).tokenResponded === 1);
      await first.kill('SIGKILL');
      expect((await rig.row('bob')).version).toBe(before.version); // nothing committed

      const second = await rig.worker({ OUTBOUND_TIMEOUT_MS: '5000', REFRESH_LEASE_SECONDS: '7' });
      const flagged = await waitFor(
        'the restarted worker to flag the row',
        async () => {
          const r = await rig.row('bob');
          return r.status !== 'active' && r;
        },
        30_000,
      );
      expect(flagged).toMatchObject({ status: 'refresh_indeterminate', last_error_class: 'interrupted' });
      expect(flagged.refresh_token_ct.equals(before.refresh_token_ct)).toBe(true); // kept for the record; not deleted
      await waitFor('the alert', () => second.output.join('').includes('ALERT refresh_indeterminate'));
      expect(await rig.provider.stats()).toMatchObject({ tokenRequests: 1, tokenErrors: {} }); // no second call that would burn the family
      const release = await rig.release('bob');
      expect(release.status).toBe(409);
      expect(release.body.connect_url).toMatch(/\/connect\//);
    },
  );
});

describe('interrupted refreshes (Google-like provider: refresh tokens never rotate)', () => {
  let rig: RefreshRig;

  beforeAll(async () => {
    rig = await startRefreshRig({ mode: 'google', users: ['carol', 'dan'], providerOptions: { refresh_rotation: 'never' } });
    await rig.provider.reset(); // count only refresh traffic
  }, 60_000);
  afterAll(() => rig?.close());
  afterEach(async () => {
    await Promise.all(rig.workers.splice(0).map((w) => w.kill('SIGKILL')));
    await rig.provider.reset();
  });

  it("SECURITY 34: kill -9 after the provider's 200 and before the commit → after a restart the " + 'credential is valid', async () => {
    const first = await rig.worker({ OUTBOUND_TIMEOUT_MS: '5000', REFRESH_LEASE_SECONDS: '7' });
    const before = await rig.row('carol');
    await rig.provider.faults({ responseDelayMs: 1500 }); // well inside the worker's 5 s timeout, so SIGSTOP lands mid-call
    await rig.makeDue('carol');
    await waitFor('the worker to call the provider', async () => (await rig.provider.stats()).tokenRequests === 1);
    first.proc.kill('SIGSTOP');
    await waitFor('the provider to answer', async () => (await rig.provider.stats()).tokenResponded === 1);
    await first.kill('SIGKILL');
    await rig.provider.faults({ responseDelayMs: 0 });

    await rig.worker({ OUTBOUND_TIMEOUT_MS: '5000', REFRESH_LEASE_SECONDS: '7' });
    const after = await waitFor(
      'the restarted worker to refresh',
      async () => {
        const r = await rig.row('carol');
        return r.version !== before.version && r;
      },
      30_000,
    );
    expect(after).toMatchObject({ status: 'active', lease_owner: null });
    expect(await rig.provider.stats()).toMatchObject({ tokenRequests: 2, tokenErrors: {} });
    expect((await rig.release('carol')).status).toBe(200);
  });

  it("SECURITY 32: the losing refresher gets invalid_grant → it re-reads; no needs_reauth; the winner's answer is committed", async () => {
    await rig.worker();
    const before = await rig.row('dan');
    await rig.provider.faults({ responseDelayMs: 4000 });
    await rig.makeDue('dan');
    await waitFor('the worker to call the provider', async () => (await rig.provider.stats()).tokenRequests === 1);
    // The worker stalls past its lease; the provider will refuse the next call with invalid_grant.
    await rig.v.db.ds.query(`UPDATE vault.connections SET lease_expires_at = now() - interval '1 second' WHERE subject = 'dan'`);
    await rig.provider.faults({ responseDelayMs: 4000, next: [{ status: 400, body: { error: 'invalid_grant' } }] });
    const during = await rig.release('dan'); // takes the lease over, calls, loses with invalid_grant
    expect(during.status).toBe(409);
    expect((await rig.row('dan')).status).toBe('refresh_indeterminate'); // not needs_reauth: the refresh it took over may explain it
    const after = await waitFor('the worker to commit its answer', async () => {
      const r = await rig.row('dan');
      return r.status === 'active' && r.version !== before.version && r;
    });
    expect(after.last_error_class).toBeNull();
    const audit = await waitFor('the rescue to be audited', async () => {
      const a = await rig.refreshAudit();
      return a.at(-1)?.details?.rescued && a;
    });
    expect(audit.some((e: any) => e.reason === 'needs_reauth')).toBe(false);
    expect(audit.at(-1)).toMatchObject({ outcome: 'allowed', details: expect.objectContaining({ rescued: true }) });
    expect((await rig.release('dan')).status).toBe(200);
  });

  it('SECURITY 37: a provider timeout is transient: the token is kept and retried', async () => {
    await rig.worker({
      OUTBOUND_TIMEOUT_MS: '500',
      REFRESH_LEASE_SECONDS: '3',
      REFRESH_BACKOFF_BASE_SECONDS: '1',
      REFRESH_BACKOFF_MAX_SECONDS: '1',
    });
    const before = await rig.row('carol');
    await rig.provider.faults({ latencyMs: 1500 });
    await rig.makeDue('carol', 120);
    const failing = await waitFor('a timed-out attempt', async () => {
      const r = await rig.row('carol');
      return r.refresh_failures >= 1 && r;
    });
    expect(failing).toMatchObject({ status: 'active', version: before.version, last_error_class: expect.stringMatching(/^transient:/) });
    await rig.provider.faults({ latencyMs: 0 });
    await waitFor('the retry to refresh', async () => (await rig.row('carol')).version !== before.version, 30_000);
    expect((await rig.row('carol')).status).toBe('active');
  });
});
