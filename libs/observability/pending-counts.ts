import type { Counter } from 'prom-client';

interface Pending {
  labels: Record<string, string>;
  n: number;
}

/**
 * Increments of a counter with one or two labels, kept per label values and handed to
 * prom-client when the counter is read (from its `collect`, so before every scrape), in the
 * order the values were first counted since the last read: the exposition is the one `inc` per
 * event gives (series prom-client has not seen are added in the order `inc` would have added
 * them), without a labels object, a hash string and a label check per event. Bounded by its
 * callers' label values. (A `reset()` of the counter drops what was handed over, not what is
 * still pending; the vault never resets these counters.)
 */
export class PendingCounts {
  private readonly byFirst = new Map<string, Map<string, Pending>>();
  /** Entries with a count to hand over, in the order they got it. */
  private readonly pending: Pending[] = [];

  constructor(private readonly names: readonly [string] | readonly [string, string]) {}

  add(first: string, second = ''): void {
    let inner = this.byFirst.get(first);
    if (inner === undefined) this.byFirst.set(first, (inner = new Map()));
    let p = inner.get(second);
    if (p === undefined) {
      const labels: Record<string, string> = { [this.names[0]]: first };
      if (this.names.length === 2) labels[this.names[1]] = second;
      inner.set(second, (p = { labels, n: 0 }));
    }
    if (p.n === 0) this.pending.push(p);
    p.n += 1;
  }

  flushInto(counter: Counter<string>): void {
    for (const p of this.pending) {
      counter.inc(p.labels, p.n);
      p.n = 0;
    }
    this.pending.length = 0;
  }
}
