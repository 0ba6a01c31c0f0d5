import { REFRESH_AHEAD } from '../oauth';

/** How early a connection is refreshed: its provider's catalog `refresh` fields (defaults: `REFRESH_AHEAD`). */
export interface RefreshWindow {
  /** The worker's window before expiry. */
  aheadSeconds: number;
  /** The release's window before expiry (capped by a quarter of the token's lifetime). */
  releaseAheadSeconds: number;
  keepAliveDays?: number;
}

/** The share of a token's lifetime left when a release refreshes it: 20–40 s tokens are not refreshed on every release. */
const RELEASE_SHARE = 0.25;

/**
 * Whether a release should refresh first: less than min(`releaseAheadSeconds`, 25 % of the token's
 * lifetime) left. A token without `issuedAt` (stored before `token_issued_at`) gets the whole window.
 */
export function isDue(
  expiresAt: Date | null,
  issuedAt: Date | null = null,
  w: Pick<RefreshWindow, 'releaseAheadSeconds'> = REFRESH_AHEAD,
  now = Date.now(),
): boolean {
  if (expiresAt === null) return false;
  const life = issuedAt ? Math.max(0, expiresAt.getTime() - issuedAt.getTime()) : Infinity;
  return expiresAt.getTime() - now <= Math.min(w.releaseAheadSeconds * 1000, life * RELEASE_SHARE);
}

const DAY_MS = 86_400_000;

/**
 * `aheadSeconds` before the access token expires, and at least every `keepAliveDays` for providers
 * that revoke refresh tokens left unused; never for a credential that cannot be refreshed. A token
 * that lives shorter than four windows is refreshed when a quarter of its life is left (the release
 * path's window too): earlier would multiply provider calls for short-lived tokens (at half life: 2x).
 */
export function nextRefreshAt(
  expiresAt: Date | null,
  refreshable: boolean,
  w: Pick<RefreshWindow, 'aheadSeconds' | 'keepAliveDays'>,
  now = Date.now(),
): Date | null {
  if (!refreshable) return null;
  const candidates: number[] = [];
  if (expiresAt) {
    const life = expiresAt.getTime() - now;
    candidates.push(life > 4 * w.aheadSeconds * 1000 ? expiresAt.getTime() - w.aheadSeconds * 1000 : now + Math.max(0, life * 0.75));
  }
  if (w.keepAliveDays) candidates.push(now + w.keepAliveDays * DAY_MS);
  return candidates.length ? new Date(Math.min(...candidates)) : null;
}

/**
 * Exponential backoff with equal jitter for the `attempt`-th failure in a row (1-based): half the
 * capped exponential delay plus a random half, so replicas spread out but never retry at once.
 * A provider's Retry-After is a floor.
 */
export function backoffDelayMs(
  attempt: number,
  b: { baseMs: number; maxMs: number },
  retryAfterSeconds?: number,
  random = Math.random,
): number {
  const exp = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.round(Math.max(jittered, (retryAfterSeconds ?? 0) * 1000));
}
