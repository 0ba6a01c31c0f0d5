import { Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  ADMIN_SCOPE,
  AUTH_REJECTION_SINK,
  AuthRejectionSink,
  authorizeAdmin,
  bearerTokenOf,
  TokenVerifier,
  VerifiedToken,
} from '../../../libs/auth';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { DomainError } from '../../../libs/kernel';
import { formField } from '../connect/form';
import { RouteRateLimits } from '../ops/rate-limit';

/** A cookie holds at most ~4 KB; longer tokens still work in the Authorization header. */
const MAX_COOKIE_TOKEN = 3800;
/** However long the token lives, a browser session lasts at most a working day. */
const MAX_SESSION_SECONDS = 8 * 3600;
const COOKIE_VALUE = /^[A-Za-z0-9._-]+$/;

/**
 * Who is looking at the dashboard. A person signs in by pasting a `vault:admin` token; the browser
 * then holds that token in a cookie, and every request verifies it again exactly like a bearer
 * token (issuer, signature, audience, expiry, scope): no server-side session to steal or forget to
 * expire, and the cookie dies with the token. The cookie is HttpOnly (no script reads it), SameSite=Strict
 * (no other site makes the browser send it), scoped to /dashboard (the JSON API never sees it, and
 * reads only the Authorization header anyway) and Secure when the vault is served over https.
 * Forms carry a token derived from a separate random cookie (double submit) and must come from the
 * vault's origin, so another site can neither sign a browser in as someone else nor out.
 */
@Injectable()
export class DashboardSession {
  private readonly secure: boolean;
  private readonly origin: string;
  readonly sessionCookie: string;
  private readonly csrfCookie: string;

  constructor(
    private readonly verifier: TokenVerifier,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'publicUrl'>,
    @Inject(AUTH_REJECTION_SINK) private readonly sink: AuthRejectionSink,
    private readonly limits: RouteRateLimits,
  ) {
    const url = new URL(config.publicUrl);
    this.secure = url.protocol === 'https:';
    this.origin = url.origin;
    // __Secure- (not __Host-, which forbids a Path) makes browsers refuse the cookie from plain http.
    this.sessionCookie = `${this.secure ? '__Secure-' : ''}vault_dashboard`;
    this.csrfCookie = `${this.secure ? '__Secure-' : ''}vault_dashboard_csrf`;
  }

  /** The admin of this request: the bearer token if one is sent, else the session cookie's. */
  async authenticate(req: FastifyRequest): Promise<VerifiedToken> {
    const raw = (await this.bearerOf(req)) ?? this.cookies(req).get(this.sessionCookie);
    // No token is simply the sign-in page; only presented tokens are worth an audit record.
    if (!raw) throw new DomainError('invalid_token', 'Sign in with a vault:admin token.');
    const token = await this.admit(raw, req);
    this.limits.checkCaller('dashboard', token);
    return token;
  }

  /** The `Authorization: Bearer` token, if sent; a malformed header is refused and audited like a bad token. */
  private async bearerOf(req: FastifyRequest): Promise<string | undefined> {
    try {
      return bearerTokenOf(req.headers.authorization);
    } catch (err) {
      const error = err as DomainError;
      await this.sink.rejected({ code: error.code, reason: error.detail, route: `${req.method} ${req.routeOptions?.url ?? '/dashboard'}` });
      throw error;
    }
  }

  /** POST /dashboard/session: checks the form, verifies the pasted token, returns the cookies to set. */
  async signIn(req: FastifyRequest): Promise<string[]> {
    this.checkForm(req);
    const raw = (formField(req, 'token') ?? '').trim().replace(/^Bearer\s+/i, '');
    if (!raw) throw new DomainError('invalid_token', 'Paste a vault:admin token.');
    const token = await this.admit(raw, req);
    this.limits.checkCaller('dashboard', token);
    if (raw.length > MAX_COOKIE_TOKEN || !COOKIE_VALUE.test(raw))
      throw new DomainError(
        'invalid_request',
        'This token is too long for a browser session; send it in the Authorization header instead.',
      );
    const maxAge = Math.min(MAX_SESSION_SECONDS, token.expiresAt - Math.floor(Date.now() / 1000));
    return [this.cookie(this.sessionCookie, raw, maxAge)];
  }

  /** POST /dashboard/session/end: the cookie is cleared (the token itself lives on until it expires). */
  signOut(req: FastifyRequest): string[] {
    this.checkForm(req);
    return [this.clearSession()];
  }

  clearSession(): string {
    return this.cookie(this.sessionCookie, '', 0);
  }

  hasSessionCookie(req: FastifyRequest): boolean {
    return this.cookies(req).has(this.sessionCookie);
  }

  /** The CSRF token for this browser's forms, and the cookie to set if it has none yet. */
  csrf(req: FastifyRequest): { token: string; setCookie?: string } {
    const held = this.cookies(req).get(this.csrfCookie);
    if (held && /^[A-Za-z0-9_-]{43}$/.test(held)) return { token: formToken(held) };
    const fresh = randomBytes(32).toString('base64url');
    return { token: formToken(fresh), setCookie: this.cookie(this.csrfCookie, fresh) };
  }

  private async admit(raw: string, req: FastifyRequest): Promise<VerifiedToken> {
    let token: VerifiedToken | undefined;
    try {
      token = await this.verifier.verify(raw);
      authorizeAdmin(token, `The dashboard requires the ${ADMIN_SCOPE} scope.`);
      return token;
    } catch (err) {
      const error = err instanceof DomainError ? err : new DomainError('invalid_token', 'The token was not accepted.');
      // A failing sink fails the request with its own error, as the API's guards do.
      await this.sink.rejected({
        code: error.code,
        reason: error.detail,
        route: `${req.method} ${req.routeOptions?.url ?? '/dashboard'}`,
        ...(token
          ? {
              issuer: token.issuer,
              tenant: token.tenant,
              subject: token.subject,
              ...(token.agent !== undefined ? { agent: token.agent } : {}),
            }
          : {}),
      });
      throw error;
    }
  }

  private checkForm(req: FastifyRequest): void {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== this.origin)
      throw new DomainError('forbidden', "This form was not sent from the vault's own page.");
    if (!/application\/x-www-form-urlencoded/i.test(String(req.headers['content-type'] ?? '')))
      throw new DomainError('invalid_request', 'Send the form from the page.');
    const held = this.cookies(req).get(this.csrfCookie);
    const sent = formField(req, 'csrf');
    const ok =
      held !== undefined &&
      typeof sent === 'string' &&
      sent.length === 43 &&
      timingSafeEqual(Buffer.from(formToken(held)), Buffer.from(sent));
    if (!ok) throw new DomainError('forbidden', 'This form has expired or was not sent from this page. Reload the page and try again.');
  }

  private cookie(name: string, value: string, maxAge?: number): string {
    return (
      `${name}=${value}; Path=/dashboard; HttpOnly; ` +
      `SameSite=Strict${this.secure ? '; Secure' : ''}${maxAge !== undefined ? `; Max-Age=${maxAge}` : ''}`
    );
  }

  private cookies(req: FastifyRequest): Map<string, string> {
    const out = new Map<string, string>();
    for (const part of (req.headers.cookie ?? '').split(';').slice(0, 64)) {
      const eq = part.indexOf('=');
      const name = eq < 0 ? '' : part.slice(0, eq).trim();
      if ((name === this.sessionCookie || name === this.csrfCookie) && !out.has(name)) out.set(name, part.slice(eq + 1).trim());
    }
    return out;
  }
}

function formToken(secret: string): string {
  return createHmac('sha256', secret).update('vault-dashboard-form').digest('base64url');
}
