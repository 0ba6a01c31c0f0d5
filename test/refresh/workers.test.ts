import { RefreshRig, startRefreshRig, waitFor } from './support';

/**
 * SECURITY 30 and 37 against real worker processes, the real vault and a real authorization
 * server that rotates refresh tokens and revokes the whole family when an old one is reused.
 */
describe('background refresh across worker processes (rotating refresh tokens, family revocation on reuse)', () => {
  let rig: RefreshRig;
  const env = { REFRESH_BACKOFF_BASE_SECONDS: '1', REFRESH_BACKOFF_MAX_SECONDS: '2', WORKER_METRICS_PORT: '0', HOST: '127.0.0.1' };
  /** Sum of a metric's samples matching `labels` over every worker's /metrics. */
  const scraped = async (name: string, labels: string[]) => {
    let sum = 0;
    let seen = 0;
    for (const w of rig.workers) {
      const url = /metrics on (http:\/\/\S+)/.exec(w.output.join(''))![1];
      const text = await (await fetch(url)).text();
      for (const line of text.split('\n')) {
        if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && labels.every((l) => line.includes(l))) {
          sum += Number(line.split(' ').at(-1));
          seen += 1;
        }
      }
    }
    expect(seen).toBeGreaterThan(0); // the metric exists: a zero is a reading, not a miss
    return sum;
  };

  beforeAll(async () => {
    rig = await startRefreshRig({ mode: 'rotating', users: ['alice', 'bob'], env: {} });
    await Promise.all([rig.worker(env), rig.worker(env), rig.worker(env)]);
  }, 60_000);
  afterAll(() => rig?.close());

  it(
    'the workers refresh a due connection before it expires: one provider call, rotated token stored, metadata of the ' +
      'refresh recorded',
    async () => {
      const before = await rig.row('alice');
      await rig.provider.reset();
      await rig.makeDue('alice', 120); // due for the worker, still valid for releases
      const after = await waitFor('a scheduled refresh', async () => {
        const r = await rig.row('alice');
        return r.version !== before.version && r;
      });
      expect(after).toMatchObject({ status: 'active', lease_owner: null, last_error_class: null, refresh_failures: 0 });
      expect(after.refresh_token_ct.equals(before.refresh_token_ct)).toBe(false);
      expect(after.last_refresh_at).not.toBeNull();
      // The next refresh is scheduled from the new expiry (an hour-long token: five minutes before it).
      expect(after.next_refresh_at.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
      const stats = await rig.provider.stats();
      expect(stats.token.refresh_token).toBe(1);
      expect(stats.tokenRequests).toBe(1);
      expect((await rig.release('alice')).status).toBe(200);
      // The workers' own /metrics: one scheduled refresh, by provider and outcome; the queue is drained.
      expect(await scraped('vault_refresh_total', ['provider="custom-oauth2"', 'trigger="scheduled"', 'outcome="refreshed"'])).toBe(1);
      expect(await scraped('vault_refresh_queue_lag_seconds', [])).toBe(0);
    },
  );

  it(
    'SECURITY 30: three workers + 50 concurrent releases at expiry → exactly one refresh; everyone gets the new token; ' + 'rotation kept',
    async () => {
      for (let round = 0; round < 3; round++) {
        const old = (await rig.release('bob')).body.access_token;
        await rig.provider.reset();
        await rig.makeDue('bob'); // expired: due for the workers and refreshed on demand by every release
        const results = await Promise.all(Array.from({ length: 50 }, () => rig.release('bob')));
        expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
        const tokens = new Set(results.map((r) => r.body.access_token));
        expect(tokens.size).toBe(1);
        expect(tokens.has(old)).toBe(false);
        const stats = await rig.provider.stats();
        expect(stats.token.refresh_token).toBe(1);
        expect(stats.tokenRequests).toBe(1);
        expect(stats.tokenErrors).toEqual({}); // no reuse of a rotated refresh token, ever
      }
      expect(await rig.row('bob')).toMatchObject({ status: 'active', lease_owner: null });
    },
  );

  it(
    'SECURITY 37: provider 5xx → backoff with jitter, token kept and released meanwhile, then refreshed; the streak is ' + 'recorded',
    async () => {
      await rig.provider.reset();
      const current = (await rig.release('alice')).body.access_token;
      const before = await rig.row('alice');
      await rig.provider.faults({
        next: [
          { status: 503, body: { error: 'temporarily_unavailable' } },
          { status: 502, body: { error: 'server_error' } },
        ],
      });
      const auditBefore = (await rig.refreshAudit()).length;
      await rig.makeDue('alice', 120);
      const failing = await waitFor('two failed attempts', async () => {
        const r = await rig.row('alice');
        return r.refresh_failures === 2 && r;
      });
      expect(failing).toMatchObject({ status: 'active', version: before.version, last_error_class: expect.stringMatching(/^transient:/) });
      expect(failing.refresh_token_ct.equals(before.refresh_token_ct)).toBe(true);
      expect(failing.next_refresh_at.getTime()).toBeGreaterThan(Date.now() - 1000); // rescheduled, not retried in a loop
      // What the security team sees: the admin listing shows the streak, the error class and the next attempt.
      const listed = (await rig.v.call('GET', '/v1/admin/connections?user=alice', { token: rig.admin() })).body;
      expect(JSON.stringify(listed)).toContain('"refresh_failures":2');
      expect(JSON.stringify(listed)).toMatch(/"last_error_class":"transient:[a-z_]+"/);
      const meanwhile = await rig.release('alice');
      expect(meanwhile.status).toBe(200);
      expect(meanwhile.body.access_token).toBe(current);
      const done = await waitFor(
        'the refresh after the backoff',
        async () => {
          const r = await rig.row('alice');
          return r.version !== before.version && r;
        },
        30_000,
      );
      expect(done).toMatchObject({ status: 'active', refresh_failures: 0, last_error_class: null });
      const stats = await rig.provider.stats();
      expect(stats.tokenRequests).toBe(3);
      expect(stats.token.refresh_token).toBe(1);
      // The worker audits right after its commit: wait for the record rather than race it.
      const events = await waitFor('the refresh to be audited', async () => {
        const e = (await rig.refreshAudit()).slice(auditBefore);
        return e.at(-1)?.outcome === 'allowed' && e;
      });
      expect(events.map((e) => [e.outcome, e.reason])).toEqual([
        ['error', 'provider_unavailable'],
        ['error', 'provider_unavailable'],
        ['allowed', null],
      ]);
      // Exponential: the second delay's range [1, 2] s starts where the first's [0.5, 1] s ends.
      expect(events[0].details.retry_in_seconds).toBeLessThanOrEqual(1);
      expect(events[1].details.retry_in_seconds).toBeGreaterThanOrEqual(1);
    },
  );

  it('SECURITY 37: 429 with Retry-After → the next attempt waits at least that long', async () => {
    await rig.provider.reset();
    const before = await rig.row('alice');
    await rig.provider.faults({ next: [{ status: 429, headers: { 'retry-after': '4' }, body: { error: 'slow_down' } }] });
    await rig.makeDue('alice', 120);
    const failing = await waitFor('the throttled attempt', async () => {
      const r = await rig.row('alice');
      return r.refresh_failures === 1 && r;
    });
    const [{ ahead }] = await rig.v.db.ds.query(
      `SELECT EXTRACT(EPOCH FROM next_refresh_at - now())::float8 AS ahead FROM vault.connections WHERE subject = 'alice'`,
    );
    expect(ahead).toBeGreaterThan(2.5); // 4 s from the attempt, minus the time this poll took
    expect(failing.version).toBe(before.version);
    const last = await waitFor(
      'the throttled attempt to be audited',
      async () => (await rig.refreshAudit()).at(-1)?.details?.status === 429 && (await rig.refreshAudit()).at(-1),
    );
    expect(last).toMatchObject({
      outcome: 'error',
      reason: 'provider_unavailable',
      details: expect.objectContaining({ provider_error: 'rate_limited', status: 429, retry_in_seconds: 4 }),
    });
    await waitFor('the refresh after Retry-After', async () => (await rig.row('alice')).version !== before.version, 30_000);
    expect((await rig.provider.stats()).tokenRequests).toBe(2);
  });

  it('SECURITY 37: a terminal answer (invalid_grant) → needs_reauth, nothing deleted, no retry', async () => {
    await rig.provider.reset();
    await rig.provider.faults({ next: [{ status: 400, body: { error: 'invalid_grant', error_description: 'revoked by the user' } }] });
    await rig.makeDue('alice', 120);
    const r = await waitFor('needs_reauth', async () => {
      const row = await rig.row('alice');
      return row.status === 'needs_reauth' && row;
    });
    expect(r).toMatchObject({ last_error_class: 'terminal:invalid_grant', lease_owner: null });
    expect(r.refresh_token_ct).not.toBeNull();
    expect(r.access_token_ct).not.toBeNull();
    const release = await rig.release('alice');
    expect(release.status).toBe(409);
    expect(release.body.connect_url).toMatch(/\/connect\//);
    expect((await rig.provider.stats()).tokenRequests).toBe(1);
  });
  it(
    'our own fault (a record whose key does not unwrap) → no provider call, the lease is given back, and the next ' +
      'attempt waits a backoff instead of every poll',
    async () => {
      await rig.provider.reset();
      const [{ dek_wrapped: good }] = await rig.v.db.ds.query(`SELECT dek_wrapped FROM vault.connections WHERE subject = 'bob'`);
      // Names a tenant key version that does not exist: the keyring refuses it as it would a forged one.
      const broken = Buffer.from(good);
      broken.writeUInt32BE(9999, 1);
      await rig.v.db.ds.query(`UPDATE vault.connections SET dek_wrapped = $1 WHERE subject = 'bob'`, [broken]);
      try {
        await rig.makeDue('bob', 120);
        const { next_refresh_at: dueAt } = await rig.row('bob');
        const r = await waitFor('the failed attempt to give the lease back', async () => {
          const row = await rig.row('bob');
          return row.last_error_class === 'internal' && row.lease_owner === null && row;
        });
        // Retried only after the backoff (base 1 s here, equal jitter: at least 0.5 s), not at the next 50 ms poll.
        expect(r.next_refresh_at.getTime() - dueAt.getTime()).toBeGreaterThanOrEqual(500);
        expect(r).toMatchObject({ status: 'active', refresh_failures: 0 });
        expect((await rig.provider.stats()).tokenRequests).toBe(0);
      } finally {
        await rig.v.db.ds.query(`UPDATE vault.connections SET dek_wrapped = $1 WHERE subject = 'bob'`, [good]);
      }
    },
  );
});
