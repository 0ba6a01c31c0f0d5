import { runStorm } from './storm-scenario';

/**
 * Issue 15's storm, in the suite (SECURITY 30–34, 45–48 together): see storm-scenario.ts. 80
 * connections (40 with a 30 s reuse grace window, 40 strict), 20–40 s access tokens, three worker
 * processes, five release clients for 40 s; two SIGKILLs with calls in flight and batches claimed,
 * a 3 s Postgres outage for the workers, a KEK rotation under Key Vault 429 bursts, a SIGTERM.
 *
 * Figures are counted (STORM_STATS=1 prints them): reuse revocations, needless re-consents (a
 * strict row flagged although the provider never rotated its token), lost tokens of the grace
 * integration, expired tokens released, releases slower than REFRESH_RELEASE_WAIT_MS + 1 s, and
 * provider refresh calls against the minimum (one per token lifetime). Timing is never asserted
 * tightly: slow releases may be at most 1 % (a GC pause on two shared cores must not fail the suite).
 * Needless re-consents: none for a call that had not started (issue 15's target); one whose worker was
 * SIGKILLed between the mark and the send is the documented unavoidable case (docs/refresh.md).
 */
const RELEASE_WAIT_MS = 2000;

describe('refresh storm', () => {
  it(
    '0 reuse revocations, no re-consent for a call not started, 0 lost tokens with a grace window, 0 expired tokens released; calls ≤ ' +
      '1.5× the minimum; SIGTERM loses nothing',
    async () => {
      const f = await runStorm({
        perIntegration: 40,
        stormMs: 40_000,
        ttl: () => 20 + Math.floor(Math.random() * 21),
        meanTtlSeconds: 30,
        firstExpiry: () => 3 + Math.floor(Math.random() * 37),
        releaseWaitMs: RELEASE_WAIT_MS,
        clients: 5,
        thinkMs: 150,
        worker: {
          OUTBOUND_TIMEOUT_MS: '4000',
          REFRESH_LEASE_SECONDS: '7',
          REFRESH_CONCURRENCY: '4',
          REFRESH_BATCH_SIZE: '20',
          REFRESH_POLL_INTERVAL_MS: '200',
          KEY_ROTATION_KV_RPS: '50',
          KEY_JOB_LEASE_SECONDS: '3',
        },
      });
      const slowLimit = Math.ceil(f.releases.total * 0.01);
      if (process.env.STORM_STATS) console.log(JSON.stringify(f, null, 1));
      try {
        expect(f.killed).toHaveLength(3);
        expect(f.provider.reuseRevocations).toBe(0);
        expect(f.outcome.needlessNotStarted).toBe(0);
        // A strict row flagged although its token never rotated is allowed in one case only, the one docs/refresh.md
        // calls unavoidable: a worker SIGKILLed between the call-start mark and its request reaching the provider (the
        // successor cannot tell that from a call the provider processed). A mark kept by a live process (a lost mark
        // reply, test/refresh/lost-mark-reply) or left by a SIGTERM is a failure.
        expect(f.needless.filter((n) => !(n.callStarted && n.markLeftBy === 'sigkill' && !n.providerSaw))).toEqual([]);
        expect(f.outcome.lostWithGrace).toBe(0);
        expect(f.outcome.flaggedBySigterm).toBe(0);
        expect(f.releases.expired).toBe(0);
        expect(f.releases.other).toBe(0);
        expect(f.releases.ok).toBeGreaterThan(f.releases.total / 2);
        expect(f.releases.slow).toBeLessThanOrEqual(slowLimit);
        expect(f.callsToMinimum).toBeLessThanOrEqual(1.5);
      } catch (err) {
        // A failure says what happened and when (the slowest releases and each needless re-consent beside faultsAt).
        if (!process.env.STORM_STATS) console.log(JSON.stringify(f, null, 1));
        throw err;
      }
    },
    240_000,
  );
});
