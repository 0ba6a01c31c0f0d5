import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { DomainError, TenantId } from '../kernel';
import { ProviderHttpClient } from '../oauth';
import { openIdClient, OpenIdConfiguration, outboundFetch } from './openid';
import { UserLoginFlowStore } from './user-login-flow.store';
import { UserLogin, UserLoginStore } from './user-login.store';
import { hashOf, UserSession, UserSessionStore } from './user-session.store';

const FLOW_SECONDS = 600;
const MAX_FLOWS_PER_TENANT = 10_000;
export const CALLBACK_PATH = '/auth/callback';

/** Shown when a sign-in cannot finish; never the IdP's own message (it is the IdP's to write). */
const FAILED = 'Signing in did not work. Nothing was changed. Go back to your account page and try again.';

/**
 * Users sign in through the tenant's OpenID provider with openid-client: authorization code +
 * PKCE (S256), `state`, `nonce`, the `iss` response parameter checked when the provider announces
 * it (RFC 9207), the ID token validated by the library. The flow's state and nonce are a row keyed
 * by the hash of a random id the browser holds; the PKCE verifier lives only in the browser's
 * cookie, so neither the database nor the browser alone can finish a flow. Single use: the row is
 * deleted when the callback reads it.
 */
@Injectable()
export class UserSignIn {
  private readonly fetch: ReturnType<typeof outboundFetch>;

  constructor(
    private readonly flows: UserLoginFlowStore,
    private readonly logins: UserLoginStore,
    private readonly sessions: UserSessionStore,
    private readonly audit: AuditLog,
    http: ProviderHttpClient,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'publicUrl'>,
  ) {
    this.fetch = outboundFetch(http);
  }

  async configured(tenant: TenantId): Promise<boolean> {
    return (await this.logins.get(tenant)) !== undefined;
  }

  /** Starts a sign-in: the URL to send the browser to and the flow cookie's value (path `/auth/callback`). */
  async start(tenant: TenantId, returnTo: string): Promise<{ url: string; flowCookie: string; maxAgeSeconds: number }> {
    const login = await this.logins.withSecret(tenant);
    if (!login) throw new DomainError('not_found', 'Signing in is not set up for this vault. Open the link the app gave you instead.');
    const oidc = openIdClient();
    const config = await this.discover(login, login.clientSecret.reveal());
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const flowId = randomBytes(32).toString('base64url');
    // Anyone may open /account: the sign-ins under way per tenant are bounded, so a flood cannot grow the table without end.
    const opened = await this.flows.open(hashOf(flowId), { tenant, state, nonce, returnTo }, FLOW_SECONDS, MAX_FLOWS_PER_TENANT);
    if (!opened) throw new DomainError('rate_limited', 'Too many sign-ins are under way. Try again in a few minutes.', { retryAfter: 60 });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri(),
      scope: login.scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, flowCookie: `${flowId}.${verifier}`, maxAgeSeconds: FLOW_SECONDS };
  }

  /**
   * Finishes a sign-in from the callback's query string and the flow cookie: a new session for the
   * subject in the configured claim. Any failure is one clear 400 page; nothing is stored.
   */
  async finish(
    search: string,
    flowCookie: string | undefined,
  ): Promise<{ tenant: TenantId; cookie: string; maxAgeSeconds: number; returnTo: string }> {
    const [flowId, verifier] = (flowCookie ?? '').split('.');
    if (!flowId || !verifier) throw new DomainError('invalid_request', FAILED);
    const flow = await this.flows.take(hashOf(flowId));
    if (!flow) throw new DomainError('invalid_request', FAILED);
    const login = await this.logins.withSecret(flow.tenant);
    if (!login) throw new DomainError('invalid_request', FAILED);
    let claims: Record<string, unknown>;
    try {
      const config = await this.discover(login, login.clientSecret.reveal());
      const tokens = await openIdClient().authorizationCodeGrant(config, new URL(`${this.redirectUri()}${search}`), {
        pkceCodeVerifier: verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      claims = (tokens.claims() ?? {}) as Record<string, unknown>;
    } catch (err) {
      // The library's message may quote the provider; only its code is recorded.
      const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'sign_in_failed';
      await this.audit.record({
        tenant: flow.tenant,
        action: 'user.sign_in',
        outcome: 'denied',
        reason: 'sign_in_failed',
        details: { error: code.slice(0, 64) },
      });
      throw new DomainError('invalid_request', FAILED);
    }
    const subject = claims[login.subjectClaim];
    if (typeof subject !== 'string' || !subject || subject.length > 255) {
      await this.audit.record({
        tenant: flow.tenant,
        action: 'user.sign_in',
        outcome: 'denied',
        reason: 'subject_missing',
        details: { claim: login.subjectClaim },
      });
      throw new DomainError('invalid_request', FAILED);
    }
    const roles = rolesOf(login.rolesClaim ? claims[login.rolesClaim] : undefined);
    const email = typeof claims.email === 'string' ? claims.email.slice(0, 320) : null;
    const s = await this.sessions.create(flow.tenant, subject, email, roles);
    await this.audit.record({
      tenant: flow.tenant,
      action: 'user.sign_in',
      outcome: 'allowed',
      subject,
      details: { issuer_host: new URL(login.issuer).host },
    });
    return { tenant: flow.tenant, cookie: s.cookie, maxAgeSeconds: s.maxAgeSeconds, returnTo: flow.returnTo };
  }

  /** The live session this cookie value names in `tenant` (its idle clock moved), or undefined. */
  session(tenant: TenantId, cookie: string | undefined): Promise<UserSession | undefined> {
    return this.sessions.authenticate(tenant, cookie);
  }

  /** Ends a session (sign-out). */
  /** The address the user last signed in with (approval mail, libs/approvals). */
  lastEmail(tenant: TenantId, subject: string): Promise<string | undefined> {
    return this.sessions.lastEmail(tenant, subject);
  }

  signOut(sessionId: string): Promise<void> {
    return this.sessions.revoke(sessionId);
  }

  private redirectUri(): string {
    return `${this.config.publicUrl}${CALLBACK_PATH}`;
  }

  private async discover(login: UserLogin, secret: string): Promise<OpenIdConfiguration> {
    const oidc = openIdClient();
    const insecure = new URL(login.issuer).protocol === 'http:';
    // Plain http was admitted at configuration time only for a loopback provider outside production.
    return oidc.discovery(new URL(login.issuer), login.clientId, undefined, oidc.ClientSecretBasic(secret), {
      [oidc.customFetch]: this.fetch,
      execute: insecure ? [oidc.allowInsecureRequests] : [],
    });
  }
}

function rolesOf(v: unknown): string[] {
  if (typeof v === 'string') return v.split(' ').filter(Boolean).slice(0, 50);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string').slice(0, 50);
  return [];
}
