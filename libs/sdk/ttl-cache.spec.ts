import { TtlCache } from './ttl-cache';

describe('TtlCache', () => {
  let now = 1_000_000;
  const clock = () => now;

  it('keeps a value until the time it names, then loads again', async () => {
    const cache = new TtlCache<string>(clock);
    let loads = 0;
    const load = async () => `v${++loads}`;
    expect(await cache.get('k', load, () => now + 1000)).toEqual({ value: 'v1', fresh: true });
    now += 999;
    expect(await cache.get('k', load, () => now + 1000)).toEqual({ value: 'v1', fresh: false });
    now += 1;
    expect(await cache.get('k', load, () => now + 1000)).toEqual({ value: 'v2', fresh: true });
  });

  it('does not keep a value whose time is not in the future', async () => {
    const cache = new TtlCache<string>(clock);
    let loads = 0;
    await cache.get(
      'k',
      async () => `v${++loads}`,
      () => now,
    );
    await cache.get(
      'k',
      async () => `v${++loads}`,
      () => now,
    );
    expect([loads, cache.size]).toEqual([2, 0]);
  });

  it('single flight: concurrent gets of a missing key share one load', async () => {
    const cache = new TtlCache<number>(clock);
    let loads = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const load = async () => {
      loads += 1;
      await gate;
      return 42;
    };
    const all = Promise.all(Array.from({ length: 20 }, () => cache.get('k', load, () => now + 1000)));
    release();
    const results = await all;
    expect(loads).toBe(1);
    expect(results.map((r) => r.value)).toEqual(Array(20).fill(42));
    expect(results.filter((r) => r.fresh)).toHaveLength(1);
  });

  it('a failed load reaches every waiter and is not cached', async () => {
    const cache = new TtlCache<number>(clock);
    let loads = 0;
    const failing = async () => {
      loads += 1;
      throw new Error('boom');
    };
    const results = await Promise.allSettled([cache.get('k', failing, () => now + 1000), cache.get('k', failing, () => now + 1000)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(loads).toBe(1);
    expect(
      (
        await cache.get(
          'k',
          async () => 7,
          () => now + 1000,
        )
      ).value,
    ).toBe(7);
  });

  it('forgets the least recently used entry beyond maxEntries, and by prefix', async () => {
    const cache = new TtlCache<string>(clock, 2);
    const put = (k: string) =>
      cache.get(
        k,
        async () => k,
        () => now + 1000,
      );
    await put('a:1');
    await put('b:1');
    await put('a:1'); // touch: b is now the oldest
    await put('c:1');
    let loads = 0;
    await cache.get(
      'b:1',
      async () => `b${++loads}`,
      () => now + 1000,
    );
    expect(loads).toBe(1);
    cache.deletePrefix('b:');
    expect(cache.size).toBe(1);
  });
});
