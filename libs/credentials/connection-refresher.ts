import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { DomainError, TenantId } from '../kernel';
import { OAuthClient, ParsedGrant, ProviderCatalog, ProviderError } from '../oauth';
import { IntegrationStore } from './integration.store';
import { OAuthAppCredentialReader } from './oauth-app-credentials';
import { OAuthCredentialStore, RefreshableConnection } from './oauth-credential.store';

/** A token this close to its expiry is refreshed before it is released. */
export const REFRESH_AHEAD_MS = 60_000;

export function isDue(expiresAt: Date | null, now = Date.now(), aheadMs = REFRESH_AHEAD_MS): boolean {
  return expiresAt !== null && expiresAt.getTime() - now <= aheadMs;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Refreshes one OAuth connection, for the release path now and the worker later (issue 4):
 * in-process single flight per connection; across processes the row lease (`lease_owner`,
 * `lease_expires_at`) so one provider call serves everyone; no transaction held across the
 * provider call; commit with compare-and-set on version + lease owner, the rotated refresh token
 * sealed in the same write. Terminal errors re-read first (a sibling may have won) and only then
 * set `needs_reauth`; transient ones keep the token. Nothing is ever deleted here.
 */
@Injectable()
export class ConnectionRefresher {
  private readonly log = new Logger('refresh');
  private readonly inflight = new Map<string, Promise<void>>();
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;

  constructor(
    private readonly store: OAuthCredentialStore,
    private readonly integrations: IntegrationStore,
    private readonly apps: OAuthAppCredentialReader,
    private readonly catalog: ProviderCatalog,
    private readonly oauth: OAuthClient,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'outbound'>,
  ) {
    // Longer than the provider call can take, so a live refresher never loses its lease.
    this.leaseMs = config.outbound.timeoutMs + 5000;
  }

  /**
   * Resolves once the stored access token is usable (refreshed here or by a sibling, or still
   * valid after a transient failure). Rejects with `needs_reauth`, or `unavailable` (Retry-After).
   */
  refresh(tenant: TenantId, connectionId: string, trigger: 'on_demand' | 'scheduled' = 'on_demand'): Promise<void> {
    const key = `${tenant}\u0000${connectionId}`;
    let flight = this.inflight.get(key);
    if (!flight) {
      flight = this.run(tenant, connectionId, trigger).finally(() => this.inflight.delete(key));
      this.inflight.set(key, flight);
    }
    return flight;
  }

  private async run(tenant: TenantId, id: string, trigger: string): Promise<void> {
    const deadline = Date.now() + this.leaseMs + 2000;
    for (;;) {
      const c = await this.store.load(tenant, id);
      if (!c) throw new DomainError('connection_not_found', 'no connection for this user and integration');
      if (c.status !== 'active') throw needsReauth();
      if (!isDue(c.expiresAt)) return; // a sibling refreshed it meanwhile
      if (!c.refreshTokenCt) return this.terminal(c, new ProviderError('terminal', 'no_refresh_token'), trigger);
      if (await this.store.claimLease(c, this.owner, this.leaseMs)) return this.refreshLeased(c, trigger);
      if (Date.now() > deadline) throw unavailable(1);
      await sleep(100); // another process holds the lease: wait for its commit
    }
  }

  private async refreshLeased(c: RefreshableConnection, trigger: string): Promise<void> {
    let grant: ParsedGrant;
    let previous: Awaited<ReturnType<OAuthCredentialStore['openTokens']>>;
    try {
      const integration = await this.integrations.get(c.tenant, c.integration);
      const app = await this.apps.read(c.tenant, c.integration);
      if (!integration || !app) throw new ProviderError('terminal', 'integration_changed');
      const provider = this.catalog.resolve(integration.provider, integration.config, app.clientId);
      previous = await this.store.openTokens(c);
      grant = await this.oauth.refresh(provider, app, previous.refresh!, c.scopes);
    } catch (err) {
      if (err instanceof ProviderError) return err.errorClass === 'terminal' ? this.terminal(c, err, trigger) : this.transient(c, err, trigger);
      await this.store.releaseLease(c, this.owner, 'internal').catch(() => undefined);
      throw err;
    }
    const rotated = grant.refreshToken !== null && grant.refreshToken.reveal() !== previous.refresh?.reveal();
    const next = { ...grant, refreshToken: grant.refreshToken ?? previous.refresh };
    // The rotated refresh token exists only in memory until this commit: retry it before giving up.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        if (await this.store.commitRefresh(c, this.owner, next)) {
          await this.record(c, 'allowed', undefined, { trigger, rotated });
          return;
        }
        break;
      } catch {
        await sleep(50 * 2 ** attempt);
      }
    }
    const now = await this.store.load(c.tenant, c.id).catch(() => undefined);
    if (now && now.version !== c.version) return; // a sibling committed: its token stands
    this.log.error(`ALERT refresh_indeterminate tenant=${c.tenant} connection=${c.id} rotated=${rotated}`);
    await this.store.markStatus(c, 'refresh_indeterminate', 'commit_failed').catch(() => false);
    await this.record(c, 'error', 'refresh_indeterminate', { trigger, rotated });
    throw unavailable(1);
  }

  private async terminal(c: RefreshableConnection, err: ProviderError, trigger: string): Promise<void> {
    // `invalid_grant` because a sibling already rotated the token is not the user's problem: re-read first.
    const now = await this.store.load(c.tenant, c.id);
    if (now && now.version !== c.version) {
      if (now.status === 'active' && !isDue(now.expiresAt)) return;
      if (now.status !== 'active') throw needsReauth();
    }
    await this.store.markStatus(c, 'needs_reauth', `terminal:${err.code}`);
    await this.record(c, 'denied', 'needs_reauth', { trigger, provider_error: err.code });
    throw needsReauth();
  }

  private async transient(c: RefreshableConnection, err: ProviderError, trigger: string): Promise<void> {
    await this.store.releaseLease(c, this.owner, `${err.errorClass}:${err.code}`);
    await this.record(c, 'error', 'provider_unavailable', { trigger, provider_error: err.code, status: err.status });
    // The token it would have replaced is still good: release that one.
    if (c.expiresAt && c.expiresAt.getTime() > Date.now()) return;
    throw unavailable(err.retryAfterSeconds ?? 5);
  }

  private async record(c: RefreshableConnection, outcome: 'allowed' | 'denied' | 'error', reason: string | undefined, details: Record<string, unknown>): Promise<void> {
    await this.audit.record({ tenant: c.tenant, action: 'connection.refresh', outcome, reason, subject: c.subject || undefined, integration: c.integration, details: { connection: c.id, version: c.version, ...details } });
  }
}

function needsReauth(): DomainError {
  return new DomainError('needs_reauth', 'the connection must be re-authorized by the user');
}

function unavailable(retryAfter: number): DomainError {
  return new DomainError('unavailable', 'The provider is unavailable; nothing was released. Try again later.', { retryAfter });
}
