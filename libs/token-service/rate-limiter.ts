export interface TokenBucketOptions {
  /** Requests allowed at once. */
  burst: number;
  /** Sustained requests per second. */
  perSecond: number;
  /** Keys remembered; the least recently used are forgotten first (a forgotten key starts full). */
  maxKeys?: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * An in-memory token bucket per key. Per process: with N replicas a client gets up to N
 * times the budget, which is acceptable for brute-force protection (SECURITY.md 29) and
 * keeps Postgres out of the rejection path.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;

  constructor(private readonly opts: TokenBucketOptions) {
    if (!(opts.burst >= 1) || !(opts.perSecond > 0)) throw new TypeError('burst must be >= 1 and perSecond > 0');
    this.maxKeys = opts.maxKeys ?? 50_000;
  }

  take(key: string, now = Date.now()): RateDecision {
    const b = this.buckets.get(key) ?? { tokens: this.opts.burst, at: now };
    this.buckets.delete(key);
    b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.perSecond);
    b.at = now;
    let decision: RateDecision;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      decision = { allowed: true };
    } else {
      decision = { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / this.opts.perSecond)) };
    }
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return decision;
  }
}
