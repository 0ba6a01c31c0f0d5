import { TenantKeyCache } from './tenant-key-cache';

describe('TenantKeyCache', () => {
  it('coalesces concurrent misses into one load', async () => {
    const cache = new TenantKeyCache(10, 60_000);
    let loads = 0;
    const load = () => new Promise<Buffer>((r) => setTimeout(() => (loads++, r(Buffer.alloc(32, 1))), 10));
    const keys = await Promise.all(Array.from({ length: 50 }, () => cache.get('t\u00001', load)));
    expect(loads).toBe(1);
    expect(keys.every((k) => k === keys[0])).toBe(true);
  });

  it('is bounded (LRU) and expires entries by age', async () => {
    let now = 0;
    const cache = new TenantKeyCache(2, 1000, () => now);
    let loads = 0;
    const load = async () => (loads++, Buffer.alloc(32));
    await cache.get('a', load);
    await cache.get('b', load);
    await cache.get('a', load); // a is now most recent
    await cache.get('c', load); // evicts b
    expect(cache.size).toBe(2);
    await cache.get('a', load);
    expect(loads).toBe(3);
    await cache.get('b', load);
    expect(loads).toBe(4);
    now = 5000;
    await cache.get('b', load);
    expect(loads).toBe(5);
  });

  it('peek answers only what get would answer from the cache, never loads, and keeps the LRU order', async () => {
    let now = 0;
    const cache = new TenantKeyCache(2, 1000, () => now);
    expect(cache.peek('a')).toBeUndefined();
    const a = await cache.get('a', async () => Buffer.alloc(32, 1));
    await cache.get('b', async () => Buffer.alloc(32, 2));
    expect(cache.peek('a')).toBe(a); // a is now most recent
    await cache.get('c', async () => Buffer.alloc(32, 3)); // evicts b, not a
    expect(cache.peek('b')).toBeUndefined();
    expect(cache.peek('a')).toBe(a);
    expect(cache.toJSON()).toMatchObject({ hits: 2, misses: 3 });
    now = 1000;
    expect(cache.peek('a')).toBeUndefined(); // too old: get would load it again
    let loads = 0;
    await cache.get('a', async () => (loads++, Buffer.alloc(32, 4)));
    expect(loads).toBe(1);
  });

  it('a failed load is not cached', async () => {
    const cache = new TenantKeyCache(2, 1000);
    await expect(
      cache.get('a', async () => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    await expect(cache.get('a', async () => Buffer.alloc(32))).resolves.toHaveLength(32);
  });
});
