import { Inject, Injectable, Logger } from '@nestjs/common';
import { AuditLog, UNATTRIBUTED_TENANT } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { consentScopes, IntegrationStore, OAuthAppCredentialReader, OAuthAppCredentials, OAuthCredentialStore } from '../connections';
import { RecordRef, SealedFields } from '../crypto';
import { DomainError } from '../kernel';
import {
  authorizeUrl,
  checkAuthorizationIssuer,
  newPkce,
  OAuthClient,
  ParsedGrant,
  ProviderCatalog,
  ProviderError,
  providerErrorCode,
  ProviderHttpClient,
  randomSecret,
  ResolvedProvider,
} from '../oauth';
import { PolicyDecisionPoint } from '../policy';
import { matchesBrowser, sha256 } from './browser-binding';
import { ConnectSession, ConnectSessionStore } from './connect-session.store';

const TABLE = 'connect_sessions';

export type CallbackOutcome =
  { session: ConnectSession; outcome: 'connected' } | { session: ConnectSession; outcome: 'cancelled' | 'failed'; error: string };

/**
 * The authorization code flow (RFC 6749 §4.1 with PKCE S256, RFC 9207 `iss`): `start` when the
 * user clicks Connect, `callback` at `/oauth/callback`. The `state` is bound to the session and
 * to the browser holding it, and is consumed once before the token endpoint is ever called.
 */
@Injectable()
export class AuthorizationFlow {
  private readonly log = new Logger('connect');
  readonly redirectUri: string;

  constructor(
    private readonly sessions: ConnectSessionStore,
    private readonly integrations: IntegrationStore,
    private readonly apps: OAuthAppCredentialReader,
    private readonly catalog: ProviderCatalog,
    private readonly http: ProviderHttpClient,
    private readonly oauth: OAuthClient,
    private readonly credentials: OAuthCredentialStore,
    private readonly sealed: SealedFields,
    private readonly audit: AuditLog,
    private readonly decisions: PolicyDecisionPoint,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'publicUrl'>,
  ) {
    this.redirectUri = `${config.publicUrl}/oauth/callback`;
  }

  async provider(s: ConnectSession): Promise<{ app: OAuthAppCredentials; provider: ResolvedProvider }> {
    const integration = await this.integrations.get(s.tenant, s.integration);
    const app = integration?.kind === 'oauth2' ? await this.apps.read(s.tenant, s.integration) : undefined;
    if (!integration) throw new DomainError('integration_not_found', 'This integration no longer exists.');
    if (!app)
      throw new DomainError('conflict', 'This integration is not complete (it has no OAuth client_id). An administrator must finish it.');
    const resolved = this.catalog.resolve(integration.provider, integration.config, app.clientId);
    // Ask for no scope that no policy could ever allow (issue 14); what is granted is parsed against the same list.
    return { app, provider: { ...resolved, scopes: consentScopes(resolved, await this.decisions.reach(s.tenant, s.integration)) } };
  }

  /** Connect clicked: the provider's server-side endpoints are checked now (SECURITY 18), then a fresh state + PKCE. */
  async start(s: ConnectSession): Promise<string> {
    const { app, provider } = await this.provider(s);
    for (const url of [provider.tokenUrl, provider.revocationUrl, provider.userinfoUrl]) {
      if (!url) continue;
      try {
        await this.http.preflight(url);
      } catch {
        await this.record(s, 'denied', 'outbound_blocked', { endpoint: new URL(url).host });
        throw new DomainError(
          'invalid_request',
          "This provider's address is not allowed for this vault. An administrator must fix the integration.",
        );
      }
    }
    const pkce = newPkce();
    const state = randomSecret();
    const verifier = Buffer.from(pkce.verifier, 'ascii');
    let ok: boolean;
    try {
      ok = await this.storeVerifier(s, sha256(state), provider.entry.pkce ? verifier : null);
    } finally {
      verifier.fill(0);
    }
    if (!ok) throw new DomainError('invalid_request', 'This connect session has ended. Ask the app for a new link.');
    return authorizeUrl(provider, {
      clientId: app.clientId,
      redirectUri: this.redirectUri,
      state,
      codeChallenge: provider.entry.pkce ? pkce.challenge : null,
    });
  }

  /** Seals the verifier onto the session (the helper seals again on VK001 and zeroes its copy). */
  private async storeVerifier(s: ConnectSession, stateHash: Buffer, verifier: Buffer | null): Promise<boolean> {
    return this.sealed.write(sessionRef(s), { code_verifier: verifier && Buffer.from(verifier) }, (sealed) =>
      this.sessions.startAuthorization(s.id, stateHash, {
        tkVersion: sealed.tkVersion,
        dekWrapped: sealed.dekWrapped,
        verifierCt: sealed.fields.code_verifier ?? null,
      }),
    );
  }

  /** `/oauth/callback`. Every refusal before the code exchange is a 400 and the token endpoint is not called. */
  async callback(q: Record<string, unknown>, cookies: Map<string, string>): Promise<CallbackOutcome> {
    const state = typeof q.state === 'string' && /^[A-Za-z0-9_-]{43}$/.test(q.state) ? q.state : undefined;
    const s = state ? await this.sessions.byState(sha256(state)) : undefined;
    if (!state || !s) {
      // Refusals we cannot attribute to a tenant (an unknown `state`) go to the audit context's own bucket.
      await this.audit.record({
        tenant: UNATTRIBUTED_TENANT,
        action: 'connection.connect',
        outcome: 'denied',
        reason: 'invalid_state',
        details: { state_present: state !== undefined },
      });
      throw badState();
    }
    // The state of session A in a browser that does not hold A (SECURITY 13): refused, A left intact.
    if (!matchesBrowser(cookies.get(s.id), s.browserHash)) {
      await this.record(s, 'denied', 'state_browser_mismatch');
      throw badState();
    }
    const consumed = await this.sessions.consumeState(s.id, sha256(state));
    if (!consumed) {
      await this.record(s, 'denied', 'invalid_state');
      throw badState();
    }
    const { app, provider } = await this.provider(s);
    const iss = typeof q.iss === 'string' ? q.iss : undefined;
    const issuer = checkAuthorizationIssuer(provider, iss);
    if (issuer !== 'ok') return this.refuse(s, issuer, 'The response did not come from the provider this connection was started with.');
    if (typeof q.error === 'string') {
      const code = providerErrorCode(q.error, provider.entry.terminalErrors);
      await this.sessions.finish(s.id, code === 'access_denied' ? 'cancelled' : 'failed', code);
      await this.record(s, 'denied', code === 'access_denied' ? 'cancelled' : 'provider_error', { provider_error: code });
      return { session: s, outcome: code === 'access_denied' ? 'cancelled' : 'failed', error: code };
    }
    if (typeof q.code !== 'string' || q.code.length === 0 || q.code.length > 4096)
      return this.refuse(s, 'missing_code', 'The provider sent no authorization code.');
    return this.exchange(s, app, provider, q.code, consumed);
  }

  private async exchange(
    s: ConnectSession,
    app: OAuthAppCredentials,
    provider: ResolvedProvider,
    code: string,
    sealed: { dekWrapped: Buffer | null; verifierCt: Buffer | null },
  ): Promise<CallbackOutcome> {
    let verifier: string | null = null;
    // A PKCE flow without its sealed verifier (NULL) fails like a tampered one: alarmed and audited.
    if (provider.entry.pkce || sealed.verifierCt) {
      const alarm = {
        audit: this.audit,
        action: 'connection.connect',
        subject: s.subject,
        integration: s.integration,
        details: { session: s.id },
      };
      const b = await this.sealed.open(sessionRef(s), { dekWrapped: sealed.dekWrapped, ct: sealed.verifierCt }, 'code_verifier', alarm);
      verifier = b.toString('ascii');
      b.fill(0);
    }
    let grant: ParsedGrant;
    let identity: { subject: string | null; email: string | null };
    try {
      grant = await this.oauth.exchangeCode(provider, app, { code, redirectUri: this.redirectUri, codeVerifier: verifier });
      identity = await this.identity(s, provider, grant);
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err;
      await this.sessions.finish(s.id, 'failed', err.code);
      await this.record(s, err.errorClass === 'terminal' ? 'denied' : 'error', 'provider_error', {
        provider_error: err.code,
        class: err.errorClass,
      });
      if (err.errorClass === 'transient')
        throw new DomainError('unavailable', 'The provider is unavailable; nothing was connected. Try again.', { retryAfter: 5 });
      throw new DomainError('invalid_request', `The provider did not accept the authorization (${err.code}). Nothing was connected.`);
    }
    if (!this.expected(s, identity)) {
      await this.oauth.revoke(provider, app, { access: grant.accessToken, refresh: grant.refreshToken });
      await this.sessions.finish(s.id, 'failed', 'identity_mismatch');
      await this.record(s, 'denied', 'identity_mismatch');
      throw new DomainError('forbidden', 'You signed in with a different account than the app expected. Nothing was connected.');
    }
    let stored: { id: string; version: number; created: boolean };
    try {
      stored = await this.credentials.put(
        s.tenant,
        s.integration,
        s.subject,
        { ...grant, providerAccountId: identity.subject, providerAccountEmail: identity.email },
        provider.entry.refresh.aheadSeconds,
      );
    } catch (err) {
      // The user must start over. No revocation here: at some providers (Google) revoking the new token
      // revokes the whole grant, and with it the connection this one was about to replace.
      await this.sessions.finish(s.id, 'failed', 'store_failed').catch(() => undefined);
      await this.record(s, 'error', 'store_failed').catch(() => undefined);
      throw err;
    }
    await this.sessions.finish(s.id, 'completed');
    await this.record(s, 'allowed', undefined, {
      connection: stored.id,
      version: stored.version,
      reconnected: !stored.created,
      scopes: grant.scopes,
    });
    return { session: s, outcome: 'connected' };
  }

  /** Who signed in: from the token response or ID token, else the entry's userinfo endpoint. */
  private async identity(
    s: ConnectSession,
    p: ResolvedProvider,
    g: ParsedGrant,
  ): Promise<{ subject: string | null; email: string | null }> {
    if (p.entry.identity.source !== 'userinfo') return g.identity;
    try {
      return await this.oauth.userinfo(p, g.accessToken);
    } catch (err) {
      // Only an expected identity makes the account check mandatory.
      if (s.expectedEmail || s.expectedSubject) throw err;
      this.log.warn(`userinfo unavailable for ${s.integration} (${err instanceof ProviderError ? err.code : 'error'})`);
      return { subject: null, email: null };
    }
  }

  private expected(s: ConnectSession, id: { subject: string | null; email: string | null }): boolean {
    if (s.expectedSubject && id.subject !== s.expectedSubject) return false;
    if (s.expectedEmail && id.email?.toLowerCase() !== s.expectedEmail) return false;
    return true;
  }

  private async refuse(s: ConnectSession, reason: string, detail: string): Promise<never> {
    await this.sessions.finish(s.id, 'failed', reason);
    await this.record(s, 'denied', reason);
    throw new DomainError('invalid_request', `${detail} Nothing was connected.`);
  }

  private async record(
    s: ConnectSession,
    outcome: 'allowed' | 'denied' | 'error',
    reason?: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await this.audit.record({
      tenant: s.tenant,
      action: 'connection.connect',
      outcome,
      reason,
      subject: s.subject,
      integration: s.integration,
      details: { session: s.id, ...details },
    });
  }
}

/** What a session's PKCE verifier is bound to: the session, and whose account on which integration it connects (invariant 3). */
export function sessionRef(s: Pick<ConnectSession, 'tenant' | 'id' | 'subject' | 'integration'>): RecordRef {
  return { tenant: s.tenant, table: TABLE, id: s.id, bind: { subject: s.subject, integration: s.integration } };
}

function badState(): DomainError {
  return new DomainError(
    'invalid_request',
    'This sign-in response is not valid for this browser: it is unknown, ' +
      'expired, already used or was started elsewhere. Start again from the app.',
  );
}
