import type { FastifyRequest } from 'fastify';

/**
 * The account pages' cookies: one session cookie per tenant (a browser may be signed in to two),
 * and the sign-in flow's cookie, sent only to the callback. HttpOnly, SameSite=Lax (the IdP's
 * redirect back is a top-level GET), Secure and `__Host-` when the vault is served over https.
 */
export class UserCookies {
  constructor(private readonly secure: boolean) {}

  sessionName(tenant: string): string {
    // Hex: a tenant id may hold characters a cookie name may not (':').
    return `${this.secure ? '__Host-' : ''}vault_user_${Buffer.from(tenant, 'utf8').toString('hex')}`;
  }

  session(tenant: string, value: string, maxAgeSeconds: number): string {
    return this.header(this.sessionName(tenant), value, '/', maxAgeSeconds);
  }

  clearSession(tenant: string): string {
    return this.header(this.sessionName(tenant), '', '/', 0);
  }

  /** `__Host-` requires Path=/, so the flow cookie is `__Secure-` on https. */
  flowName(): string {
    return `${this.secure ? '__Secure-' : ''}vault_login`;
  }

  flow(value: string, maxAgeSeconds: number): string {
    return this.header(this.flowName(), value, '/auth/callback', maxAgeSeconds);
  }

  clearFlow(): string {
    return this.header(this.flowName(), '', '/auth/callback', 0);
  }

  read(req: FastifyRequest, name: string): string | undefined {
    for (const part of String(req.headers.cookie ?? '')
      .split(';')
      .slice(0, 64)) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
    return undefined;
  }

  private header(name: string, value: string, path: string, maxAge: number): string {
    return `${name}=${value}; Path=${path}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${this.secure ? '; Secure' : ''}`;
  }
}
