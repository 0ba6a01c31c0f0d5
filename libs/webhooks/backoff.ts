/** Exponential backoff settings: the first ceiling and the cap, in milliseconds. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/**
 * The wait before the next attempt after `attempts` failed ones, with full jitter: uniform in
 * [0, min(cap, base·2^(attempts−1))]. Full jitter spreads the retries of many events that failed
 * together (an endpoint that was down) instead of hammering it in waves when it comes back.
 */
export function backoffCeilingMs(attempts: number, p: BackoffPolicy): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 40);
  return Math.min(p.capMs, p.baseMs * 2 ** exp);
}

export function retryDelayMs(attempts: number, p: BackoffPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const jittered = Math.floor(random() * backoffCeilingMs(attempts, p));
  // The receiver's Retry-After is honoured as a floor, but never beyond the cap: a receiver
  // cannot park an event for days (the cap and max attempts bound how long delivery can take).
  return retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, p.capMs));
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  if (!/^[A-Za-z]{3}, /.test(v)) return undefined; // an HTTP date (IMF-fixdate), not whatever Date.parse accepts
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
