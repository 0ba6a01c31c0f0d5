import { VerifiedToken } from './verified-token';
import { VerifiedTokenCache } from './verified-token.cache';

const T0 = 1_800_000_000_000;
const token = (expSeconds: number) => ({ expiresAt: expSeconds }) as VerifiedToken;

describe('VerifiedTokenCache', () => {
  it('keeps an entry until exp, and not after', () => {
    const cache = new VerifiedTokenCache(10, 60_000);
    const t = token(T0 / 1000 + 30);
    cache.set('a', t, T0);
    expect(cache.get('a', T0 + 29_999)).toBe(t);
    expect(cache.get('a', T0 + 30_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('caps the lifetime at maxAge even for long-lived tokens', () => {
    const cache = new VerifiedTokenCache(10, 1_000);
    cache.set('a', token(T0 / 1000 + 3600), T0);
    expect(cache.get('a', T0 + 999)).toBeDefined();
    expect(cache.get('a', T0 + 1_000)).toBeUndefined();
  });

  it('does not store an already expired token', () => {
    const cache = new VerifiedTokenCache();
    cache.set('a', token(T0 / 1000 - 1), T0);
    expect(cache.size).toBe(0);
  });

  it('answers only the very token cached: one with the same end (the key) but another start is a miss', () => {
    const cache = new VerifiedTokenCache(10, 60_000);
    const t = token(T0 / 1000 + 60);
    const tail = 's'.repeat(40);
    cache.set(`header.payload.${tail}`, t, T0);
    expect(cache.get(`header.payload.${tail}`, T0)).toBe(t);
    expect(cache.get(`header.forged!.${tail}`, T0)).toBeUndefined();
    expect(cache.get(`header.payload.${tail}`, T0)).toBe(t); // a miss on the same key leaves the entry alone
    const other = token(T0 / 1000 + 60);
    cache.set(`another.token.${tail}`, other, T0); // the same key: replaces the entry (still one answer per token)
    expect(cache.get(`header.payload.${tail}`, T0)).toBeUndefined();
    expect(cache.get(`another.token.${tail}`, T0)).toBe(other);
    expect(cache.size).toBe(1);
  });

  it('evicts the least recently used entry when full', () => {
    const cache = new VerifiedTokenCache(2, 60_000);
    const exp = T0 / 1000 + 60;
    cache.set('a', token(exp), T0);
    cache.set('b', token(exp), T0);
    cache.get('a', T0); // a is now the most recent
    cache.set('c', token(exp), T0);
    expect(cache.get('b', T0)).toBeUndefined();
    expect(cache.get('a', T0)).toBeDefined();
    expect(cache.get('c', T0)).toBeDefined();
    expect(cache.size).toBe(2);
  });
});
