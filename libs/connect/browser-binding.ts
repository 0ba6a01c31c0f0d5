import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { randomSecret } from '../oauth';

/**
 * A connect session belongs to the browser that opened its URL: that browser holds a random
 * secret in an HttpOnly cookie, the database holds its SHA-256. The CSRF token of every form
 * is an HMAC of the session id under that secret, so a page in another origin can neither read
 * nor compute it (and SameSite=Lax keeps the cookie off cross-site POSTs anyway).
 */
export function newBrowserSecret(): { secret: string; hash: Buffer } {
  const secret = randomSecret();
  return { secret, hash: sha256(secret) };
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Does this cookie value belong to the session whose browser hash is `hash`? Constant time. */
export function matchesBrowser(secret: string | undefined, hash: Buffer | null): boolean {
  if (!secret || !hash || secret.length > 128) return false;
  return timingSafeEqual(sha256(secret), hash);
}

export function csrfToken(secret: string, sessionId: string): string {
  return createHmac('sha256', secret).update(`csrf\u0000${sessionId}`).digest('base64url');
}

export function checkCsrf(secret: string, sessionId: string, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented.length !== 43) return false;
  return timingSafeEqual(Buffer.from(csrfToken(secret, sessionId)), Buffer.from(presented));
}

/** Cookie name per session, so two flows in one browser do not overwrite each other. */
export function cookieName(sessionId: string, secure: boolean): string {
  return `${secure ? '__Host-' : ''}vault_cs_${sessionId.replace(/-/g, '')}`;
}

const COOKIE = /^(?:__Host-)?vault_cs_([0-9a-f]{32})$/;

/** Session id → cookie secret, for every connect-session cookie the browser sent (at most 20). */
export function sessionCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';').slice(0, 64)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const m = COOKIE.exec(part.slice(0, eq).trim());
    const value = part.slice(eq + 1).trim();
    if (!m || !/^[A-Za-z0-9_-]{43}$/.test(value) || out.size >= 20) continue;
    const h = m[1];
    out.set(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`, value);
  }
  return out;
}

export function setCookieHeader(sessionId: string, secret: string, maxAgeSeconds: number, secure: boolean): string {
  return `${cookieName(sessionId, secure)}=${secret}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}
