import fc from 'fast-check';
import { BUILT_IN_ENTRIES, ProviderCatalog, REFRESH_AHEAD } from '../oauth';
import { backoffDelayMs, isDue, nextRefreshAt } from './refresh-schedule';

const NOW = Date.parse('2026-11-22T10:00:00Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs);

describe('isDue (a release refreshes first)', () => {
  const hourToken = (leftMs: number) => [at(leftMs), at(leftMs - 3600_000)] as const;

  it('uses the release window, 60 s by default, for a long-lived token', () => {
    expect(isDue(...hourToken(60_000), REFRESH_AHEAD, NOW)).toBe(true);
    expect(isDue(...hourToken(61_000), REFRESH_AHEAD, NOW)).toBe(false);
    expect(isDue(...hourToken(61_000), undefined, NOW)).toBe(false);
  });

  it("is a quarter of a short token's lifetime when that is less than the window", () => {
    const issued = at(-16_000); // a 20 s token with 4 s left: due; with 6 s left: not
    expect(isDue(at(4_000), issued, REFRESH_AHEAD, NOW)).toBe(true);
    expect(isDue(at(6_000), at(-14_000), REFRESH_AHEAD, NOW)).toBe(false);
  });

  it('gives a row without token_issued_at the whole window, and never refreshes a token that does not expire', () => {
    expect(isDue(at(59_000), null, REFRESH_AHEAD, NOW)).toBe(true);
    expect(isDue(null, null, REFRESH_AHEAD, NOW)).toBe(false);
  });

  it("follows the provider's releaseAheadSeconds", () => {
    expect(isDue(...hourToken(100_000), { releaseAheadSeconds: 120 }, NOW)).toBe(true);
    expect(isDue(...hourToken(100_000), { releaseAheadSeconds: 60 }, NOW)).toBe(false);
  });
});

describe('the catalog decides how early', () => {
  it('fills both windows with the documented defaults, per provider', () => {
    expect(REFRESH_AHEAD).toEqual({ aheadSeconds: 300, releaseAheadSeconds: 60 });
    const catalog = new ProviderCatalog();
    expect(catalog.refreshWindow('google')).toMatchObject(REFRESH_AHEAD);
    expect(catalog.refreshWindow('no-such-provider')).toBe(REFRESH_AHEAD);
    expect(catalog.refreshWindow(null)).toBe(REFRESH_AHEAD);
  });

  it("reads a custom integration's windows from its provider_options (issue 16 point 6), the defaults otherwise", () => {
    const catalog = new ProviderCatalog();
    const options = { refresh_ahead_seconds: 1200, refresh_release_ahead_seconds: 600 };
    expect(catalog.refreshWindow('custom-oauth2', options)).toMatchObject({ aheadSeconds: 1200, releaseAheadSeconds: 600 });
    expect(catalog.refreshWindow('custom-oauth2', { refresh_release_ahead_seconds: 90 })).toMatchObject({
      aheadSeconds: REFRESH_AHEAD.aheadSeconds,
      releaseAheadSeconds: 90,
    });
    expect(catalog.refreshWindow('custom-oauth2', {})).toMatchObject(REFRESH_AHEAD);
    // Options a built-in provider does not take are not read; unreadable ones give the defaults (they were validated when stored).
    expect(catalog.refreshWindow('google', options)).toMatchObject(REFRESH_AHEAD);
    expect(catalog.refreshWindow('custom-oauth2', { refresh_release_ahead_seconds: 'soon' })).toMatchObject(REFRESH_AHEAD);
    // The worker's window of the resolved entry is the same field.
    const config = { authorize_url: 'https://p.example/a', token_url: 'https://p.example/t', provider_options: options };
    expect(catalog.resolve('custom-oauth2', config, 'client').entry.refresh).toMatchObject({
      aheadSeconds: 1200,
      releaseAheadSeconds: 600,
    });
  });

  it('refuses a custom refresh window out of range, naming the field', () => {
    const catalog = new ProviderCatalog();
    const config = (o: Record<string, unknown>) => ({
      authorize_url: 'https://p.example/a',
      token_url: 'https://p.example/t',
      provider_options: o,
    });
    expect(catalog.check('custom-oauth2', config({ refresh_release_ahead_seconds: 0 }))).toEqual([
      expect.objectContaining({ field: 'provider_options.refresh_release_ahead_seconds' }),
    ]);
    expect(catalog.check('custom-oauth2', config({ refresh_ahead_seconds: 10 }))).toEqual([
      expect.objectContaining({ field: 'provider_options.refresh_ahead_seconds' }),
    ]);
    expect(catalog.check('custom-oauth2', config({ refresh_ahead_seconds: 600, refresh_release_ahead_seconds: 120 }))).toEqual([]);
  });

  it("carries a provider's own windows", () => {
    const google = BUILT_IN_ENTRIES.find((e) => e.id === 'google')!;
    const catalog = new ProviderCatalog([{ ...google, refresh: { ...google.refresh, aheadSeconds: 900, releaseAheadSeconds: 120 } }]);
    expect(catalog.refreshWindow('google')).toMatchObject({ aheadSeconds: 900, releaseAheadSeconds: 120 });
  });
});

describe('nextRefreshAt', () => {
  it('is the window before expiry for a long-lived token', () => {
    expect(nextRefreshAt(at(3600_000), true, { aheadSeconds: 300 }, NOW)).toEqual(at(3300_000));
  });

  it('leaves a quarter of the remaining life for a token shorter than four windows, and is now for an expired one', () => {
    expect(nextRefreshAt(at(400_000), true, { aheadSeconds: 300 }, NOW)).toEqual(at(300_000));
    expect(nextRefreshAt(at(1200_000), true, { aheadSeconds: 300 }, NOW)).toEqual(at(900_000));
    expect(nextRefreshAt(at(-5_000), true, { aheadSeconds: 300 }, NOW)).toEqual(at(0));
  });

  it('keeps an idle grant alive (Google, Microsoft) and never schedules what cannot be refreshed', () => {
    expect(nextRefreshAt(null, true, { aheadSeconds: 300, keepAliveDays: 30 }, NOW)).toEqual(at(30 * 86_400_000));
    expect(nextRefreshAt(at(3600_000), true, { aheadSeconds: 300, keepAliveDays: 30 }, NOW)).toEqual(at(3300_000));
    expect(nextRefreshAt(null, true, { aheadSeconds: 300 }, NOW)).toBeNull();
    expect(nextRefreshAt(at(3600_000), false, { aheadSeconds: 300, keepAliveDays: 30 }, NOW)).toBeNull();
  });

  it('is never later than the expiry', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -86_400_000, max: 400 * 86_400_000 }),
        fc.integer({ min: 30, max: 86_400 }),
        fc.option(fc.integer({ min: 1, max: 365 })),
        (life, ahead, keep) => {
          const next = nextRefreshAt(at(life), true, { aheadSeconds: ahead, keepAliveDays: keep ?? undefined }, NOW)!;
          expect(next.getTime()).toBeLessThanOrEqual(Math.max(NOW, NOW + life));
          expect(next.getTime()).toBeGreaterThanOrEqual(NOW);
        },
      ),
    );
  });
});

describe('backoffDelayMs', () => {
  const b = { baseMs: 1000, maxMs: 60_000 };

  it('doubles per failure between half and all of the capped exponential', () => {
    expect(backoffDelayMs(1, b, undefined, () => 0)).toBe(500);
    expect(backoffDelayMs(1, b, undefined, () => 1)).toBe(1000);
    expect(backoffDelayMs(4, b, undefined, () => 0)).toBe(4000);
    expect(backoffDelayMs(4, b, undefined, () => 1)).toBe(8000);
    expect(backoffDelayMs(40, b, undefined, () => 1)).toBe(60_000);
  });

  it('takes Retry-After as a floor', () => {
    expect(backoffDelayMs(1, b, 30, () => 0)).toBe(30_000);
    expect(backoffDelayMs(10, b, 1, () => 1)).toBe(60_000);
  });

  it('is bounded and jittered for any streak', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (attempt, r) => {
        const d = backoffDelayMs(attempt, b, undefined, () => r);
        expect(d).toBeGreaterThanOrEqual(Math.min(b.maxMs, b.baseMs * 2 ** (attempt - 1)) / 2 - 1);
        expect(d).toBeLessThanOrEqual(b.maxMs);
      }),
    );
  });
});
