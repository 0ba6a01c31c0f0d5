import { setTimeout as sleep } from 'node:timers/promises';

export interface BudgetClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const realClock: BudgetClock = { now: Date.now, sleep: (ms, signal) => sleep(ms, undefined, { signal }) };

/**
 * The Key Vault request budget of a background job: at most `maxRps` calls per second,
 * spaced evenly (no bursts). A throttling answer halves the rate and holds every caller for
 * its Retry-After; each success adds back a fiftieth of the budget (AIMD), so a job yields
 * quickly to the release path's cache misses and recovers gradually.
 *
 * @example
 *   const budget = new RequestBudget(20);
 *   provider.onThrottle?.((ms) => budget.throttled(ms));
 *   await budget.acquire(); await provider.unwrap(id, bytes); budget.succeeded();
 */
export class RequestBudget {
  private rate: number;
  private nextSlot = 0;
  private pausedUntil = 0;
  private readonly minRps: number;
  /** Throttling answers seen (for progress and tests). */
  throttles = 0;

  constructor(
    readonly maxRps: number,
    private readonly clock: BudgetClock = realClock,
  ) {
    if (!(maxRps > 0)) throw new RangeError('maxRps must be positive');
    this.rate = maxRps;
    this.minRps = Math.max(maxRps / 64, Math.min(maxRps, 0.1));
  }

  /** Resolves when the caller may make its call. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.clock.now();
      if (this.pausedUntil > now) {
        await this.clock.sleep(this.pausedUntil - now, signal);
        continue;
      }
      const at = Math.max(now, this.nextSlot);
      this.nextSlot = at + 1000 / this.rate;
      if (at > now) await this.clock.sleep(at - now, signal);
      if (this.pausedUntil <= this.clock.now()) return;
    }
  }

  /** Key Vault said "too many requests" (or "busy"), asking for `retryAfterMs` of quiet. */
  throttled(retryAfterMs: number): void {
    this.throttles++;
    this.rate = Math.max(this.minRps, this.rate / 2);
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + Math.max(0, retryAfterMs));
  }

  succeeded(): void {
    if (this.rate < this.maxRps) this.rate = Math.min(this.maxRps, this.rate + this.maxRps / 50);
  }

  /** The rate the budget currently allows. */
  get currentRps(): number {
    return this.rate;
  }
}
