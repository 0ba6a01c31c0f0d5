import { VerifiedToken } from './verified-token';

/**
 * Bounded LRU of fully verified tokens keyed by the raw token string, each kept until
 * its `exp` (at most `maxAgeMs`). Only `TokenVerifier` writes, after every check passed.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { token: VerifiedToken; until: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 5 * 60_000,
  ) {}

  get(raw: string, now = Date.now()): VerifiedToken | undefined {
    const hit = this.entries.get(raw);
    if (!hit) return undefined;
    this.entries.delete(raw);
    if (now >= hit.until) return undefined;
    this.entries.set(raw, hit);
    return hit.token;
  }

  set(raw: string, token: VerifiedToken, now = Date.now()): void {
    const until = Math.min(token.expiresAt * 1000, now + this.maxAgeMs);
    if (until <= now) return;
    this.entries.delete(raw);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(raw, { token, until });
  }

  get size(): number {
    return this.entries.size;
  }
}
