const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * What is wrong with an issuer identifier as the tenant's user-login provider, or null. https only;
 * plain http for a loopback provider outside production (the local development provider). No user
 * info, query or fragment (OpenID Discovery §4.1 forbids the latter two in an issuer).
 *
 * @example issuerProblem('http://127.0.0.1:9090', true) // 'must be https …'
 */
export function issuerProblem(issuer: string, production: boolean): string | null {
  let u: URL;
  try {
    u = new URL(issuer);
  } catch {
    return 'must be an absolute https URL';
  }
  if (u.username || u.password) return 'must not carry user info';
  if (u.search || u.hash) return 'must not have a query or fragment (OpenID Discovery §4.1)';
  const devLoopback = u.protocol === 'http:' && LOOPBACK.has(u.hostname) && !production;
  if (u.protocol !== 'https:' && !devLoopback) return 'must be https (plain http only for a loopback provider outside production)';
  return null;
}
