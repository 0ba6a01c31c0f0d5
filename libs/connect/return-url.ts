/**
 * Where a user may be sent back after connecting (SECURITY 17). Allowed: URLs under one of the
 * integration's `return_urls` (same scheme, host and port; path at or below the entry's path,
 * on a segment boundary), and the vault's own origin. Everything is compared after WHATWG
 * parsing, and the raw string is refused first for what browsers repair in surprising ways:
 * backslashes, control characters and whitespace, scheme-relative `//`, user info, and
 * percent-encoded separators in the authority.
 */
export type ReturnUrlVerdict = { ok: true; url: string } | { ok: false; reason: string };

const MAX = 2048;

export function checkReturnUrl(raw: unknown, allowlist: readonly string[], publicUrl: string): ReturnUrlVerdict {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX)
    return { ok: false, reason: 'must be an absolute http(s) URL of at most 2048 characters' };
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u0020\u007f-\u009f\u2028\u2029]/.test(raw))
    return { ok: false, reason: 'must not contain backslashes, whitespace or control characters' };
  if (!/^https?:\/\/[^/?#]/i.test(raw)) return { ok: false, reason: 'must be an absolute http(s) URL' };
  const authority = raw.replace(/^https?:\/\//i, '').split(/[/?#]/)[0];
  if (/%|@/.test(authority)) return { ok: false, reason: 'must not carry user info or encoded characters in the host' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'must be an absolute http(s) URL' };
  }
  if (url.username || url.password) return { ok: false, reason: 'must not carry user info' };
  const candidates = [...allowlist, `${new URL(publicUrl).origin}/`];
  return candidates.some((entry) => under(url, entry))
    ? { ok: true, url: url.toString() }
    : { ok: false, reason: "is not on the integration's return_urls allowlist" };
}

/** Is `url` at or below the allowlist entry? Origins must match exactly; paths on a segment boundary. */
function under(url: URL, entry: string): boolean {
  let allowed: URL;
  try {
    allowed = new URL(entry);
  } catch {
    return false;
  }
  if (url.origin !== allowed.origin || (allowed.protocol !== 'https:' && allowed.protocol !== 'http:')) return false;
  const base = allowed.pathname.endsWith('/') ? allowed.pathname : `${allowed.pathname}/`;
  return url.pathname === allowed.pathname || url.pathname.startsWith(base);
}

/** Appends the outcome to a return URL (`connect_status`, `integration`). */
export function withOutcome(returnUrl: string, status: 'connected' | 'cancelled' | 'failed', integration: string, error?: string): string {
  const u = new URL(returnUrl);
  u.searchParams.set('connect_status', status);
  u.searchParams.set('integration', integration);
  if (error) u.searchParams.set('error', error);
  return u.toString();
}
