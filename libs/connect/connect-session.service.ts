import { Inject, Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { IntegrationStore } from '../connections';
import { ConnectLinkIssuer } from '../release';
import { DomainError, TenantId } from '../kernel';
import { randomSecret } from '../oauth';
import { displayNameProblem } from '../tenants';
import { matchesBrowser, newBrowserSecret, setCookieHeader, sha256 } from './browser-binding';
import { ConnectSession, ConnectSessionStore } from './connect-session.store';
import { checkReturnUrl } from './return-url';

/** How long a connect URL may wait to be opened, unless the request says otherwise. */
export const CONNECT_URL_TTL_SECONDS = 900;
/**
 * Unopened links the release path may have offered for one user and integration at a time: an
 * agent that retries a release in a loop gets a few links (each one a session and an audit
 * record), then 404s without one until a link is opened or expires.
 */
export const MAX_UNOPENED_OFFERS = 5;
/** How long the browser that opened it may use the consent and connections pages. */
export const BROWSER_SESSION_SECONDS = 1800;

export interface CreateConnectSession {
  tenant: TenantId;
  user: string;
  integration: string;
  returnUrl?: string;
  expectedIdentity?: { email?: string; subject?: string };
  /** How the app names the user (e.g. "Olga Smith"): shown on the consent page beside the user id. */
  userDisplayName?: string;
  ttlSeconds?: number;
  /** `admin:<sub>`, `agent:<client_id>` or `user:<sub>` (reconnect). */
  createdBy: string;
}

/** A browser's hold on a session: the session and the cookie secret that proved it. */
export interface BrowserSession {
  session: ConnectSession;
  secret: string;
  /** A `Set-Cookie` value to send when the hold was just established. */
  setCookie?: string;
}

/**
 * Connect sessions: created by an app backend (admin JWT) or offered to an agent by the release
 * path, opened once by one browser, then usable by that browser only (cookie-bound).
 */
@Injectable()
export class ConnectSessionService implements ConnectLinkIssuer {
  private readonly publicUrl: string;
  readonly secureCookies: boolean;

  constructor(
    private readonly store: ConnectSessionStore,
    private readonly integrations: IntegrationStore,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'publicUrl'>,
  ) {
    this.publicUrl = config.publicUrl;
    this.secureCookies = config.publicUrl.startsWith('https:');
  }

  /** `POST /v1/connect/sessions`: a single-use URL bound to (tenant, user, integration, return URL). */
  async create(input: CreateConnectSession): Promise<{ id: string; url: string; expiresAt: Date }> {
    return (await this.open(input, false))!;
  }

  /**
   * The release path's offer to an agent whose policy allows this integration for this user; none
   * while `MAX_UNOPENED_OFFERS` offered links for them are still unopened (the agent has those).
   */
  async linkFor(r: {
    tenant: TenantId;
    subject: string;
    integration: string;
    agent: string;
  }): Promise<{ url: string; expiresAt: Date } | null> {
    const offered = await this.open({ tenant: r.tenant, user: r.subject, integration: r.integration, createdBy: `agent:${r.agent}` }, true);
    return offered ? { url: offered.url, expiresAt: offered.expiresAt } : null;
  }

  private async open(input: CreateConnectSession, offer: boolean): Promise<{ id: string; url: string; expiresAt: Date } | undefined> {
    const integration = await this.integrations.get(input.tenant, input.integration);
    if (!integration) throw new DomainError('integration_not_found', `no integration named "${input.integration}"`);
    if (integration.level !== 'user')
      throw new DomainError('conflict', `integration "${input.integration}" is tenant-level; an admin stores its credential`);
    let returnUrl: string | null = null;
    if (input.returnUrl !== undefined) {
      const allowlist = Array.isArray(integration.config.return_urls) ? (integration.config.return_urls as string[]) : [];
      const v = checkReturnUrl(input.returnUrl, allowlist, this.publicUrl);
      if (!v.ok)
        throw new DomainError('validation_failed', `return_url ${v.reason}`, {
          extra: { errors: [{ field: 'return_url', message: v.reason }] },
        });
      returnUrl = v.url;
    }
    if (input.userDisplayName !== undefined) {
      const problem = displayNameProblem(input.userDisplayName);
      if (problem)
        throw new DomainError('validation_failed', `user_display_name ${problem}`, {
          extra: { errors: [{ field: 'user_display_name', message: problem }] },
        });
    }
    const urlSecret = randomSecret();
    const ttlSeconds = input.ttlSeconds ?? CONNECT_URL_TTL_SECONDS;
    const row = {
      tenant: input.tenant,
      integration: input.integration,
      subject: input.user,
      returnUrl,
      expectedEmail: input.expectedIdentity?.email?.toLowerCase() ?? null,
      expectedSubject: input.expectedIdentity?.subject ?? null,
      userDisplayName: input.userDisplayName?.trim() || null,
      createdBy: input.createdBy,
      ttlSeconds,
    };
    const created = offer
      ? await this.store.createOffered(row, sha256(urlSecret), MAX_UNOPENED_OFFERS)
      : await this.store.create(row, sha256(urlSecret));
    if (!created) return undefined;
    await this.audit.record({
      tenant: input.tenant,
      action: 'connect.session',
      outcome: 'allowed',
      subject: input.user,
      integration: input.integration,
      details: { session: created.id, by: input.createdBy },
    });
    return { id: created.id, url: `${this.publicUrl}/connect/${urlSecret}`, expiresAt: created.expiresAt };
  }

  /**
   * `POST /connect/{secret}` (the Continue button): the first browser claims the session; the same browser may come back
   * (reload); anyone else, or anyone after expiry, gets 400.
   */
  async claim(urlSecret: string, cookies: Map<string, string>): Promise<BrowserSession> {
    const gone = new DomainError('invalid_request', 'This connect link has expired or has already been used. Ask the app for a new one.');
    if (!/^[A-Za-z0-9_-]{43}$/.test(urlSecret)) throw gone;
    const browser = newBrowserSecret();
    const claimed = await this.store.claim(sha256(urlSecret), browser.hash, BROWSER_SESSION_SECONDS);
    if (claimed)
      return {
        session: claimed,
        secret: browser.secret,
        setCookie: setCookieHeader(claimed.id, browser.secret, BROWSER_SESSION_SECONDS, this.secureCookies),
      };
    const existing = await this.store.byUrlHash(sha256(urlSecret));
    const secret = existing && cookies.get(existing.id);
    if (existing && secret && this.holds(existing, secret)) return { session: existing, secret };
    throw gone;
  }

  /**
   * `GET /connect/{secret}` without using the link up (link previews and mail scanners open links):
   * the session if this browser already holds it (a reload), else the pending session the link names.
   */
  async peek(urlSecret: string, cookies: Map<string, string>): Promise<{ held: BrowserSession } | { pending: ConnectSession }> {
    const gone = new DomainError('invalid_request', 'This connect link has expired or has already been used. Ask the app for a new one.');
    if (!/^[A-Za-z0-9_-]{43}$/.test(urlSecret)) throw gone;
    const existing = await this.store.byUrlHash(sha256(urlSecret));
    if (!existing) throw gone;
    const secret = cookies.get(existing.id);
    if (secret && this.holds(existing, secret)) return { held: { session: existing, secret } };
    if (existing.status !== 'pending' || existing.expiresAt.getTime() <= Date.now()) throw gone;
    return { pending: existing };
  }

  /** The session behind a page, if this browser holds it. */
  async authenticate(sessionId: string, cookies: Map<string, string>): Promise<BrowserSession> {
    const session = await this.store.byId(sessionId);
    const secret = cookies.get(sessionId);
    if (!session || !secret || !this.holds(session, secret)) {
      throw new DomainError(
        'forbidden',
        'This page belongs to a connect session this browser does not hold, or it has expired. Ask the app for a new link.',
      );
    }
    return { session, secret };
  }

  /** The newest session this browser holds (the connections page needs one, any integration). */
  async anyForBrowser(cookies: Map<string, string>): Promise<BrowserSession | undefined> {
    let best: BrowserSession | undefined;
    for (const [id, secret] of cookies) {
      const session = await this.store.byId(id);
      if (session && this.holds(session, secret) && (!best || session.browserExpiresAt! > best.session.browserExpiresAt!))
        best = { session, secret };
    }
    return best;
  }

  /** "Reconnect" on the connections page: a new session for the same user, already held by this browser. */
  async reconnect(from: ConnectSession, integrationName: string): Promise<BrowserSession> {
    const integration = await this.integrations.get(from.tenant, integrationName);
    if (!integration || integration.level !== 'user')
      throw new DomainError('integration_not_found', `no integration named "${integrationName}"`);
    const browser = newBrowserSecret();
    const session = await this.store.createClaimed(
      {
        tenant: from.tenant,
        integration: integrationName,
        subject: from.subject,
        returnUrl: null,
        createdBy: `user:${from.subject}`,
        ttlSeconds: CONNECT_URL_TTL_SECONDS,
      },
      sha256(randomSecret()),
      browser.hash,
      BROWSER_SESSION_SECONDS,
    );
    return {
      session,
      secret: browser.secret,
      setCookie: setCookieHeader(session.id, browser.secret, BROWSER_SESSION_SECONDS, this.secureCookies),
    };
  }

  private holds(s: ConnectSession, secret: string): boolean {
    return matchesBrowser(secret, s.browserHash) && s.browserExpiresAt !== null && s.browserExpiresAt.getTime() > Date.now();
  }
}
