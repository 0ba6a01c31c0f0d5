import { TokenBucketLimiter } from './rate-limiter';

describe('TokenBucketLimiter', () => {
  const T0 = 1_000_000;

  it('allows a burst, then refuses with a Retry-After, then refills', () => {
    const limiter = new TokenBucketLimiter({ burst: 3, perSecond: 1 });
    expect([1, 2, 3].map(() => limiter.take('a', T0).allowed)).toEqual([true, true, true]);
    expect(limiter.take('a', T0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.take('a', T0 + 999).allowed).toBe(false);
    expect(limiter.take('a', T0 + 2_000).allowed).toBe(true);
  });

  it('keeps keys apart', () => {
    const limiter = new TokenBucketLimiter({ burst: 1, perSecond: 0.1 });
    expect(limiter.take('a', T0).allowed).toBe(true);
    expect(limiter.take('a', T0)).toEqual({ allowed: false, retryAfterSeconds: 10 });
    expect(limiter.take('b', T0).allowed).toBe(true);
  });

  it('forgets the least recently used key beyond maxKeys', () => {
    const limiter = new TokenBucketLimiter({ burst: 1, perSecond: 0.001, maxKeys: 2 });
    limiter.take('a', T0);
    limiter.take('b', T0);
    limiter.take('c', T0); // evicts a
    expect(limiter.take('a', T0).allowed).toBe(true);
    expect(limiter.take('c', T0).allowed).toBe(false);
  });
});
