import { inspect } from 'node:util';

/**
 * Bounded LRU of unwrapped tenant keys with a maximum age. Concurrent misses for the
 * same key share one load (one Key Vault call), DESIGN.md invariant 1.
 * Evicted keys are zeroed.
 */
export class TenantKeyCache {
  private readonly entries = new Map<string, { key: Buffer; loadedAt: number }>();
  private readonly inflight = new Map<string, Promise<Buffer>>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(id: string, load: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.peek(id);
    if (hit) return hit;
    if (this.entries.has(id)) this.evict(id);
    const pending = this.inflight.get(id);
    if (pending) return pending;
    this.misses++;
    const p = load()
      .then((key) => {
        this.entries.set(id, { key, loadedAt: this.now() });
        while (this.entries.size > this.maxEntries) this.evict(this.entries.keys().next().value as string);
        return key;
      })
      .finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }

  /** The key when `get` would answer from the cache (counted as a hit, marked most recently used); never loads. */
  peek(id: string): Buffer | undefined {
    const entry = this.entries.get(id);
    if (!entry || this.now() - entry.loadedAt >= this.maxAgeMs) return undefined;
    // Re-insert to mark as most recently used.
    this.entries.delete(id);
    this.entries.set(id, entry);
    this.hits++;
    return entry.key;
  }

  evict(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    // Zero only after a tick, so a caller that took the buffer finishes its synchronous use first.
    // Holding it across an await is a bug: the Keyring hands out copies for that.
    setImmediate(() => entry.key.fill(0));
  }

  /** Drops every key of a tenant (after rotation, retirement or crypto-shredding). */
  evictTenant(prefix: string): void {
    for (const id of [...this.entries.keys()]) if (id.startsWith(prefix)) this.evict(id);
  }

  /** Never print key material, whoever logs this object. */
  [inspect.custom](): string {
    return `TenantKeyCache(${this.entries.size} keys)`;
  }

  toJSON(): Record<string, number> {
    return { size: this.entries.size, hits: this.hits, misses: this.misses };
  }

  clear(): void {
    for (const id of [...this.entries.keys()]) this.evict(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
