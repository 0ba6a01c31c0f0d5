import { invalidToken } from './auth-errors';

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token, with exactly one space here (issue 14 §4);
// the scheme is case-insensitive (RFC 9110 §11.1). Nothing may follow the token.
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * The token of an `Authorization: Bearer <token68>` header. Undefined when no header was sent;
 * a 401 `invalid_token` for anything else (another scheme, two spaces, trailing text, a repeated
 * header), so a request never reaches verification with a token cut out of a longer value.
 */
export function bearerTokenOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = typeof header === 'string' ? BEARER.exec(header) : null;
  if (!match) throw invalidToken('the Authorization header must be exactly "Bearer <token>"');
  return match[1];
}

const DPOP = /^DPoP ([A-Za-z0-9\-._~+/]+=*)$/i;

/** RFC 9449 §7.1: `Authorization: DPoP <token>` or `Bearer <token>`; the same strictness as `bearerTokenOf`. */
export function accessTokenOf(header: string | string[] | undefined): { scheme: 'Bearer' | 'DPoP'; token: string } | undefined {
  if (typeof header === 'string' && /^dpop /i.test(header)) {
    const match = DPOP.exec(header);
    if (!match) throw invalidToken('the Authorization header must be exactly "DPoP <token>" or "Bearer <token>"');
    return { scheme: 'DPoP', token: match[1] };
  }
  const token = bearerTokenOf(header);
  return token === undefined ? undefined : { scheme: 'Bearer', token };
}
