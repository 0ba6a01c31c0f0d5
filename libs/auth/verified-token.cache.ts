import { VerifiedToken } from './verified-token';

/**
 * How many trailing characters of a token key its entry. Hashing the whole token (~1 KB) cost more
 * than the rest of a hit; its end is the signature's, which no two tokens share and nobody without
 * the token can name. A hit still needs the whole token to be equal, so keying changes no answer.
 */
const KEY_CHARS = 32;

interface Entry {
  raw: string;
  /** `raw`'s key, kept so that an entry moved to the back is stored under the same string. */
  key: string;
  token: VerifiedToken;
  until: number;
}

/**
 * Bounded LRU of fully verified tokens keyed by the raw token string, each kept until
 * its `exp` (at most `maxAgeMs`). Only `TokenVerifier` writes, after every check passed.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 5 * 60_000,
  ) {}

  get(raw: string, now = Date.now()): VerifiedToken | undefined {
    const hit = this.entries.get(keyOf(raw));
    if (!hit || hit.raw !== raw) return undefined;
    this.entries.delete(hit.key);
    if (now >= hit.until) return undefined;
    this.entries.set(hit.key, hit);
    return hit.token;
  }

  set(raw: string, token: VerifiedToken, now = Date.now()): void {
    const until = Math.min(token.expiresAt * 1000, now + this.maxAgeMs);
    if (until <= now) return;
    const key = keyOf(raw);
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { raw, key, token, until });
  }

  get size(): number {
    return this.entries.size;
  }
}

function keyOf(raw: string): string {
  return raw.length > KEY_CHARS ? raw.slice(raw.length - KEY_CHARS) : raw;
}
