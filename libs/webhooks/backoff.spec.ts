import { backoffCeilingMs, parseRetryAfter, retryDelayMs } from './backoff';

describe('webhook retry backoff', () => {
  const p = { baseMs: 10_000, capMs: 3_600_000 };

  it('the ceiling doubles from the base per failed attempt, up to the cap', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffCeilingMs(n, p))).toEqual([10_000, 20_000, 40_000, 80_000, 160_000]);
    expect(backoffCeilingMs(12, p)).toBe(3_600_000);
    expect(backoffCeilingMs(1000, p)).toBe(3_600_000);
  });

  it('full jitter: anywhere from 0 to the ceiling', () => {
    expect(retryDelayMs(3, p, undefined, () => 0)).toBe(0);
    expect(retryDelayMs(3, p, undefined, () => 0.5)).toBe(20_000);
    expect(retryDelayMs(3, p, undefined, () => 0.999999)).toBe(39_999);
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(4, p);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(80_000);
    }
  });

  it('Retry-After is a floor, bounded by the cap', () => {
    expect(retryDelayMs(1, p, 120_000, () => 0)).toBe(120_000);
    expect(retryDelayMs(6, p, 1_000, () => 0.5)).toBe(160_000);
    expect(retryDelayMs(1, p, 86_400_000, () => 0)).toBe(3_600_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter(['7'], now)).toBe(7_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});
