import type { ResolvedProvider } from '../catalog/catalog';

/**
 * The authorization request (RFC 6749 §4.1.1 + RFC 7636): the entry's extra parameters first,
 * then the flow's own, which an entry cannot override (the catalog refuses entries that try).
 * `code_challenge_method` is always S256 when PKCE is on (SECURITY 15).
 */
export function authorizeUrl(
  p: ResolvedProvider,
  a: { clientId: string; redirectUri: string; state: string; codeChallenge: string | null; scopes?: string[] },
): string {
  const url = new URL(p.authorizeUrl);
  for (const [k, v] of Object.entries(p.entry.authorizeParams)) url.searchParams.set(k, v);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', a.clientId);
  url.searchParams.set('redirect_uri', a.redirectUri);
  const scopes = a.scopes ?? p.scopes;
  if (scopes.length) url.searchParams.set(p.entry.scopes.param, scopes.join(p.entry.scopes.separator));
  url.searchParams.set('state', a.state);
  if (p.entry.pkce && a.codeChallenge) {
    url.searchParams.set('code_challenge', a.codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return url.toString();
}

/**
 * RFC 9207: an `iss` in the authorization response must name the issuer the flow was started
 * for; where the entry requires it, its absence is refused too. Returns the refusal reason.
 */
export function checkAuthorizationIssuer(p: ResolvedProvider, iss: string | undefined): 'ok' | 'iss_mismatch' | 'iss_missing' {
  if (iss === undefined) return p.entry.requireIss ? 'iss_missing' : 'ok';
  if (p.issuer === undefined) return p.entry.requireIss ? 'iss_mismatch' : 'ok';
  return iss === p.issuer ? 'ok' : 'iss_mismatch';
}
