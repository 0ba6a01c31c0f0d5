import { FixedWindowCounters } from './fixed-window';

describe('FixedWindowCounters', () => {
  const t0 = 1_000_000;

  it('allows `limit` hits per window, then blocks for the block duration without counting', () => {
    const c = new FixedWindowCounters();
    for (let i = 1; i <= 3; i++)
      expect(c.hit('k', 60_000, 3, 60_000, t0 + i)).toMatchObject({ totalHits: i, isBlocked: false, timeToBlockExpire: 0 });
    expect(c.hit('k', 60_000, 3, 60_000, t0 + 10)).toMatchObject({ isBlocked: true, timeToBlockExpire: 60 });
    // Blocked: refused, not counted, the wait shrinks.
    expect(c.hit('k', 60_000, 3, 60_000, t0 + 30_010)).toMatchObject({ totalHits: 4, isBlocked: true, timeToBlockExpire: 30 });
    // Block over: a new window.
    expect(c.hit('k', 60_000, 3, 60_000, t0 + 60_010)).toMatchObject({ totalHits: 1, isBlocked: false });
  });

  it('starts a new window when the old one ends; keys are independent', () => {
    const c = new FixedWindowCounters();
    expect(c.hit('a', 1_000, 2, 1_000, t0).totalHits).toBe(1);
    expect(c.hit('a', 1_000, 2, 1_000, t0 + 500).totalHits).toBe(2);
    expect(c.hit('b', 1_000, 2, 1_000, t0 + 500).totalHits).toBe(1);
    expect(c.hit('a', 1_000, 2, 1_000, t0 + 1_000)).toMatchObject({ totalHits: 1, isBlocked: false, timeToExpire: 1 });
  });

  it('forgets expired keys (swept at most once per window, on a request)', () => {
    const c = new FixedWindowCounters();
    for (let i = 0; i < 100; i++) c.hit(`k${i}`, 1_000, 5, 1_000, t0);
    expect(c.size).toBe(100);
    c.hit('other', 1_000, 5, 1_000, t0 + 2_000);
    expect(c.size).toBe(1);
  });

  it('keeps a blocked key until its block is over', () => {
    const c = new FixedWindowCounters();
    c.hit('k', 1_000, 0, 10_000, t0);
    c.hit('x', 1_000, 5, 1_000, t0 + 5_000);
    expect(c.hit('k', 1_000, 0, 10_000, t0 + 5_000)).toMatchObject({ isBlocked: true, timeToBlockExpire: 5 });
  });

  it('is the storage @nestjs/throttler calls (increment)', async () => {
    const c = new FixedWindowCounters();
    await expect(c.increment('k', 60_000, 1, 60_000)).resolves.toMatchObject({ totalHits: 1, isBlocked: false });
    await expect(c.increment('k', 60_000, 1, 60_000)).resolves.toMatchObject({ isBlocked: true });
  });
});
