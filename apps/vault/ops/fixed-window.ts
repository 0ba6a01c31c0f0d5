import type { ThrottlerStorage } from '@nestjs/throttler';

/** What one counted request learns (the shape `@nestjs/throttler` expects of its storage). */
export interface WindowHit {
  totalHits: number;
  /** Seconds until the window ends. */
  timeToExpire: number;
  isBlocked: boolean;
  /** Seconds until a blocked key may try again (0 when not blocked). */
  timeToBlockExpire: number;
}

interface Window {
  /** When the current window ends (ms since the epoch). */
  endsAt: number;
  hits: number;
  /** While now < blockedUntil, the key is refused without being counted. */
  blockedUntil: number;
}

/**
 * The rate limiters' counters: a fixed window per key, O(1) per request. `@nestjs/throttler`'s
 * own store keeps one timestamp per hit and filters the array on every request (O(hits in the
 * window): thousands of elements per request for a busy agent under the default limits).
 *
 * Semantics, as the throttler's store: a key's first hit opens a window of `ttl`; the hit that
 * goes over `limit` blocks the key for `blockDuration` (the throttler defaults it to `ttl`),
 * during which it is refused and not counted; once the block is over the key starts a new
 * window. The difference is the window itself: fixed (from the first hit) instead of sliding, so
 * a caller can spend up to twice the limit across one window boundary, never more.
 * Expired keys are swept at most once per window, on a request (no timers).
 */
export class FixedWindowCounters implements ThrottlerStorage {
  private readonly windows = new Map<string, Window>();
  private nextSweep = 0;

  /** The synchronous form, for the release route (no promise per request). */
  hit(key: string, ttlMs: number, limit: number, blockDurationMs: number, now = Date.now()): WindowHit {
    if (now >= this.nextSweep) this.sweep(now, ttlMs);
    let w = this.windows.get(key);
    if (w !== undefined && w.blockedUntil > now) {
      return {
        totalHits: w.hits,
        timeToExpire: seconds(w.endsAt - now),
        isBlocked: true,
        timeToBlockExpire: seconds(w.blockedUntil - now),
      };
    }
    if (w === undefined || w.endsAt <= now || w.blockedUntil !== 0) {
      w = { endsAt: now + ttlMs, hits: 0, blockedUntil: 0 };
      this.windows.set(key, w);
    }
    w.hits += 1;
    if (w.hits > limit) {
      w.blockedUntil = now + Math.max(1, blockDurationMs);
      return {
        totalHits: w.hits,
        timeToExpire: seconds(w.endsAt - now),
        isBlocked: true,
        timeToBlockExpire: seconds(w.blockedUntil - now),
      };
    }
    return { totalHits: w.hits, timeToExpire: seconds(w.endsAt - now), isBlocked: false, timeToBlockExpire: 0 };
  }

  /** `ThrottlerStorage` (the Nest guards of the admin API). The throttler name is in the key already. */
  async increment(key: string, ttl: number, limit: number, blockDuration: number): Promise<WindowHit> {
    return this.hit(key, ttl, limit, blockDuration);
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number, ttlMs: number): void {
    for (const [key, w] of this.windows) if (w.endsAt <= now && w.blockedUntil <= now) this.windows.delete(key);
    this.nextSweep = now + Math.max(1000, ttlMs);
  }
}

function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}
