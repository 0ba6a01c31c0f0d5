import { Injectable, Logger } from '@nestjs/common';
import { DomainError, TenantId } from '../kernel';
import { downscopable, OAuthClient, ParsedGrant, ProviderCatalog, ProviderError, REFRESH_AHEAD, ResolvedProvider } from '../oauth';
import {
  DerivedToken as Derived,
  DerivedTokenStore,
  IntegrationStore,
  OAuthAppCredentialReader,
  OAuthCredentialStore,
} from '../connections';
import { ConnectionRefresher, isDue, RefreshWindow } from '../refresh';
import { scopeSetKey } from './scope-ceiling';

/** A downscoped token, opened for release. The caller zeroes `token`. */
export interface NarrowedToken {
  token: Buffer;
  /** The scopes the provider said the token carries: always within those asked for. */
  scopes: string[];
  expiresAt: Date | null;
  derived: boolean;
}

/** The provider cannot (or would not) hand out a token this narrow: a 403 `scope_exceeds_policy` for the release. */
export class NarrowingRefused extends Error {
  constructor(
    readonly reason: 'provider_cannot_downscope' | 'no_refresh_token' | 'provider_refused_scope' | 'provider_broadened',
    /** What the provider answered, when it answered too much. */
    readonly answered: string[] = [],
  ) {
    super(`narrowing refused: ${reason}`);
    this.name = 'NarrowingRefused';
  }
}

/**
 * Access tokens narrower than a connection's grant (issue 14), obtained with a `refresh_token`
 * grant that asks for `scope` (RFC 6749 §6) from providers whose catalog entry says they honour
 * it, checked (the answered `scope` must lie within what was asked), sealed and cached per
 * (connection, scope set) until near expiry, then derived again on the next release.
 *
 * A provider that may rotate refresh tokens answers a narrowing call with a new refresh token: that
 * call goes through the refresher (`ConnectionRefresher.narrow`), which commits the rotated token
 * to the connection under its lease and compare-and-set, like any refresh. One whose entry says it
 * never rotates is called directly; should it rotate anyway, nothing is released and an ALERT is logged.
 */
@Injectable()
export class DownscopedTokens {
  private readonly log = new Logger('downscope');
  private readonly inflight = new Map<string, Promise<Derived>>();

  constructor(
    private readonly store: DerivedTokenStore,
    private readonly credentials: OAuthCredentialStore,
    private readonly integrations: IntegrationStore,
    private readonly apps: OAuthAppCredentialReader,
    private readonly catalog: ProviderCatalog,
    private readonly oauth: OAuthClient,
    private readonly refresher: ConnectionRefresher,
  ) {}

  /**
   * A token for exactly `scopes` (or fewer, if the provider granted fewer) of connection `id`.
   * Rejects with `NarrowingRefused`, `needs_reauth`, `unavailable`, or a `KeyUnwrapError` from a cached row.
   */
  async obtain(
    tenant: TenantId,
    integration: string,
    id: string,
    scopes: string[],
    window: Pick<RefreshWindow, 'releaseAheadSeconds'> = REFRESH_AHEAD,
  ): Promise<NarrowedToken> {
    const key = scopeSetKey(scopes);
    const cached = await this.store.find(tenant, id, key);
    // A cached narrowed token is renewed on the release's window (its provider's releaseAheadSeconds).
    if (cached && !isDue(cached.expiresAt, null, window)) {
      return { token: await this.store.open(tenant, cached), scopes: cached.scopes, expiresAt: cached.expiresAt, derived: false };
    }
    // One provider call per process for a scope set; the token is opened per caller.
    const flightKey = `${tenant}\u0000${id}\u0000${key}`;
    let flight = this.inflight.get(flightKey);
    if (!flight) {
      flight = this.derive(tenant, integration, id, scopes, key).finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, flight);
    }
    const t = await flight;
    return { token: Buffer.from(t.accessToken.reveal(), 'utf8'), scopes: t.scopes, expiresAt: t.expiresAt, derived: true };
  }

  private async derive(tenant: TenantId, integrationName: string, id: string, scopes: string[], key: string): Promise<Derived> {
    const integration = await this.integrations.get(tenant, integrationName);
    const app = integration ? await this.apps.read(tenant, integrationName) : undefined;
    if (!integration || !app) throw new DomainError('connection_not_found', 'no connection for this user and integration');
    const provider: ResolvedProvider = this.catalog.resolve(integration.provider, integration.config, app.clientId);
    if (!downscopable(provider.entry)) throw new NarrowingRefused('provider_cannot_downscope');
    const c = await this.credentials.load(tenant, id);
    if (!c || c.status !== 'active') throw new DomainError('needs_reauth', 'the connection must be re-authorized by the user');
    const { refresh } = await this.credentials.openTokens(c);
    if (!refresh || !c.refreshTokenCt) throw new NarrowingRefused('no_refresh_token');

    let grant: ParsedGrant;
    let sourceCt: Buffer | null = c.refreshTokenCt;
    if (provider.entry.refresh.rotation !== 'never') {
      // A rotated refresh token must reach the connection under the refresher's lease and compare-and-set.
      try {
        grant = await this.refresher.narrow(tenant, id, scopes);
      } catch (err) {
        if (err instanceof DomainError && err.code === 'scope_exceeds_policy') throw new NarrowingRefused('provider_refused_scope');
        throw err;
      }
      sourceCt = (await this.credentials.load(tenant, id))?.refreshTokenCt ?? null;
    } else {
      try {
        grant = await this.oauth.refreshNarrowed(provider, app, refresh, scopes);
      } catch (err) {
        if (!(err instanceof ProviderError)) throw err;
        if (err.code === 'invalid_scope') throw new NarrowingRefused('provider_refused_scope');
        if (err.errorClass === 'terminal') throw new DomainError('needs_reauth', 'the connection must be re-authorized by the user');
        throw new DomainError('unavailable', 'the provider is unavailable; nothing was released', {
          retryAfter: err.retryAfterSeconds ?? 5,
        });
      }
      if (grant.refreshToken && grant.refreshToken.reveal() !== refresh.reveal()) {
        // The catalog says this provider never rotates. Its new refresh token is not committed here.
        this.log.error(
          `ALERT downscope_rotated tenant=${tenant} connection=${id} (the provider rotated the refresh token on a narrowed refresh)`,
        );
        throw new DomainError('unavailable', 'the provider answered unexpectedly; nothing was released', { retryAfter: 5 });
      }
    }
    // Never more than asked for, whatever the label says (the provider's answered `scope` decides).
    const over = grant.scopes.filter((s) => !scopes.includes(s));
    if (over.length) throw new NarrowingRefused('provider_broadened', grant.scopes);
    if (grant.scopes.length === 0) throw new NarrowingRefused('provider_refused_scope');

    const derived: Derived = { accessToken: grant.accessToken, scopes: grant.scopes, expiresAt: grant.expiresAt };
    if (sourceCt) await this.store.put(tenant, id, key, sourceCt, derived);
    return derived;
  }
}
