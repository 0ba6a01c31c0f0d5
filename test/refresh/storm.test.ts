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
 */
const RELEASE_WAIT_MS = 2000;

describe('refresh storm', () => {
  it(
    '0 reuse revocations, 0 needless re-consents, 0 lost tokens with a grace window, 0 expired tokens released; calls ≤ ' +
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
      // A failure says when the slow ones were, beside the faults (the figures are otherwise only printed with STORM_STATS).
      if (process.env.STORM_STATS || f.releases.slow > slowLimit) console.log(JSON.stringify(f, null, 1));
      expect(f.killed).toHaveLength(3);
      expect(f.provider.reuseRevocations).toBe(0);
      expect(f.outcome.needlessReconsents).toBe(0);
      expect(f.outcome.needlessNotStarted).toBe(0);
      expect(f.outcome.lostWithGrace).toBe(0);
      expect(f.outcome.flaggedBySigterm).toBe(0);
      expect(f.releases.expired).toBe(0);
      expect(f.releases.other).toBe(0);
      expect(f.releases.ok).toBeGreaterThan(f.releases.total / 2);
      expect(f.releases.slow).toBeLessThanOrEqual(slowLimit);
      expect(f.callsToMinimum).toBeLessThanOrEqual(1.5);
    },
    240_000,
  );
});
