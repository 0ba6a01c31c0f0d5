/**
 * An in-memory cache whose entries say themselves how long they are good for, with single flight:
 * concurrent `get`s of a missing key share one load. A failed load is not cached, so the next
 * call tries again. Bounded: beyond `maxEntries` the least recently used entry goes.
 */
export class TtlCache<T> {
  readonly #entries = new Map<string, { value: T; until: number }>();
  readonly #inFlight = new Map<string, Promise<T>>();

  constructor(
    private readonly now: () => number,
    private readonly maxEntries = 1000,
  ) {}

  /**
   * The cached value for `key`, or the result of `load()`, kept until the epoch-ms `ttl(value)`
   * returns (not kept when that is not in the future). `fresh` is false when the value came
   * from the cache or from another caller's load.
   */
  async get(key: string, load: () => Promise<T>, until: (value: T) => number): Promise<{ value: T; fresh: boolean }> {
    const hit = this.#entries.get(key);
    if (hit && hit.until > this.now()) {
      this.#entries.delete(key); // re-insert: Map order is our recency order
      this.#entries.set(key, hit);
      return { value: hit.value, fresh: false };
    }
    if (hit) this.#entries.delete(key);
    const pending = this.#inFlight.get(key);
    if (pending) return { value: await pending, fresh: false };

    const loading = load();
    this.#inFlight.set(key, loading);
    try {
      const value = await loading;
      this.#store(key, value, until(value));
      return { value, fresh: true };
    } finally {
      this.#inFlight.delete(key);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every entry whose key starts with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const key of [...this.#entries.keys()]) if (key.startsWith(prefix)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #store(key: string, value: T, until: number): void {
    if (!(until > this.now())) return;
    this.#entries.set(key, { value, until });
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
  }
}
