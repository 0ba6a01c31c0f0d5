/**
 * Checks on claim values that a valid signature does not make safe: a trusted issuer can still
 * sign a `sub` with NUL, a lone surrogate (Postgres refuses both, so they used to surface as
 * 500s) or 10 000 characters. Identifiers the vault stores, audits and compares must be short,
 * printable and well-formed UTF-16.
 */
export const MAX_IDENTIFIER_LENGTH = 255;

// C0, DEL and C1 controls; a high surrogate not followed by a low one; a low one not preceded by a high one.
// eslint-disable-next-line no-control-regex -- matching controls is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A non-empty string of at most 255 UTF-16 code units, without control characters, well-formed. */
export function isWellFormedIdentifier(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_IDENTIFIER_LENGTH && !CONTROL.test(v) && !LONE_SURROGATE.test(v);
}

/**
 * Why a token's lifetime is refused, or undefined: `exp` must be a finite integer (RFC 7519
 * NumericDate, as issuers write it), `iat` a finite number when present, and `exp - iat` (or
 * `exp - now` without `iat`) at most `maxLifetimeSeconds`.
 */
export function lifetimeProblem(payload: Record<string, unknown>, nowSeconds: number, maxLifetimeSeconds: number): string | undefined {
  const { exp, iat } = payload;
  if (typeof exp !== 'number' || !Number.isSafeInteger(exp)) return 'token expiry is not a valid time';
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) return 'token issue time is invalid';
  const from = typeof iat === 'number' ? iat : nowSeconds;
  if (exp - from > maxLifetimeSeconds) return `token lifetime exceeds the accepted maximum (${maxLifetimeSeconds} s)`;
  return undefined;
}

/** RFC 8725 §3.11 / RFC 7515 §4.1.9: `typ` compared case-insensitively, the `application/` prefix optional. */
export function typMatches(typ: unknown, required: string): boolean {
  if (typeof typ !== 'string') return false;
  const norm = (s: string) => s.toLowerCase().replace(/^application\//, '');
  return norm(typ) === norm(required);
}
