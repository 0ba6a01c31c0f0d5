import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * A secret value that redacts itself everywhere it could leak by accident:
 * `String(s)`, template literals, `JSON.stringify`, `util.inspect` / console, pino.
 * The only way out is an explicit `reveal()`, which is easy to grep for.
 *
 * @example
 *   const key = Secret.of(body.api_key);
 *   logger.info({ key });          // logs "[REDACTED]"
 *   await store(key.reveal());     // deliberate
 */
export class Secret {
  readonly #value: string;
  private constructor(value: string) {
    this.#value = value;
  }
  static of(value: string): Secret {
    if (typeof value !== 'string') throw new TypeError('Secret.of expects a string');
    return new Secret(value);
  }
  reveal(): string {
    return this.#value;
  }
  /** Constant-time comparison that tolerates unequal lengths (SECURITY.md 25). */
  equals(other: Secret | string): boolean {
    return constantTimeEqual(this.#value, other instanceof Secret ? other.reveal() : other);
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

import { createHash, timingSafeEqual } from 'node:crypto';

/** Compares two strings in time independent of where they differ; never throws on length. */
export function constantTimeEqual(a: string, b: string): boolean {
  // Hash both sides so the compared buffers always have equal length. UTF-16 code units are
  // hashed as they are (utf16le), so distinct strings never collapse onto one encoding.
  const ha = createHash('sha256').update(a, 'utf16le').digest();
  const hb = createHash('sha256').update(b, 'utf16le').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}
