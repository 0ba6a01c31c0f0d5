/** RFC 8252 §7.3: loopback redirect URIs, where any port is accepted at authorization time. */
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
const MAX_URI = 2000;

/**
 * Why a redirect URI may not be registered, or undefined when it may: `https` anywhere, plain
 * `http` only on a loopback host (native clients), never a fragment or user info (RFC 6749 §3.1.2,
 * OAuth 2.1 §2.3.1).
 */
export function redirectUriProblem(uri: unknown): string | undefined {
  if (typeof uri !== 'string' || !uri || uri.length > MAX_URI) return 'must be an absolute URL';
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'must be an absolute URL';
  }
  if (uri.includes('#')) return 'must not have a fragment';
  if (u.username || u.password) return 'must not carry user info';
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return undefined;
  return 'must be https (http only on a loopback address: 127.0.0.1, [::1] or localhost)';
}

/**
 * The given redirect URI matches a registered one exactly (string comparison), except that a
 * loopback http URI may use any port (RFC 8252 §7.3): scheme, host, path and query still match.
 */
export function redirectUriMatches(registered: readonly string[], given: string): boolean {
  if (registered.includes(given)) return true;
  let g: URL;
  try {
    g = new URL(given);
  } catch {
    return false;
  }
  if (g.protocol !== 'http:' || !LOOPBACK.has(g.hostname) || given.includes('#')) return false;
  return registered.some((r) => {
    const u = new URL(r);
    return u.protocol === 'http:' && u.hostname === g.hostname && u.pathname === g.pathname && u.search === g.search;
  });
}
