import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { DomainError, Secret, TenantId } from '../kernel';
import { reportRefresh, RefreshOutcome } from '../observability';
import { OAuthClient, ParsedGrant, ProviderCatalog, ProviderError, REFRESH_AHEAD, ResolvedProvider } from '../oauth';
import {
  ClaimedConnection,
  ConnectionEvent,
  ConnectionEventType,
  IntegrationStore,
  OAuthAppCredentialReader,
  OAuthCredential,
  OAuthCredentialStore,
  RefreshableConnection,
} from '../connections';
import { backoffDelayMs, isDue, nextRefreshAt, RefreshWindow } from './refresh-schedule';
import { step } from './refresh-transition';

/** A token with less than this left is not handed out while another process refreshes it. */
const MIN_RELEASE_VALIDITY_MS = 1000;

/** Whether the token may be released as it is: it has not expired (and will not within a second). */
export function isUsable(expiresAt: Date | null, now = Date.now()): boolean {
  return expiresAt === null || expiresAt.getTime() - now >= MIN_RELEASE_VALIDITY_MS;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Trigger = 'on_demand' | 'scheduled';

/** A refresh asking for a narrower scope set (issue 14): the stored access token stays, the narrowed one goes to `deliver`. */
interface Narrowing {
  scopes: string[];
  deliver: (grant: ParsedGrant) => void;
}

/**
 * Refreshes OAuth connections, for the release path (on demand) and the worker (scheduled), with
 * one protocol (DESIGN.md "Refresh"):
 * - in-process single flight per connection; across processes the row lease, so one provider
 *   call serves every waiter;
 * - our own faults (database, key provider) happen before the provider call and prevent it;
 * - no transaction is held across the provider call, whose timeout is shorter than the lease;
 * - the answer is committed first, in one statement (compare-and-set on version: unchanged, nobody
 *   wrote a newer token), retried while the rotated refresh token exists only in memory;
 * - a lease taken over from a refresher that never gave it back means its provider call may have
 *   rotated the refresh token: for a provider that may rotate, no second call is made (it would
 *   burn the family); the row is flagged `refresh_indeterminate` with an alert, and the
 *   interrupted refresher, if it comes back with the answer while the row still holds the token it
 *   refreshed, may still commit it;
 * - terminal answers re-read first (a sibling may have won) and only then set `needs_reauth`;
 *   transient ones keep the token and back off with jitter, honouring Retry-After.
 * Nothing is ever deleted here.
 */
@Injectable()
export class ConnectionRefresher {
  private readonly log = new Logger('refresh');
  private readonly inflight = new Map<string, Promise<void>>();
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;
  private readonly waitMs: number;
  private readonly callMs: number;
  private readonly backoff: { baseMs: number; maxMs: number };

  constructor(
    private readonly store: OAuthCredentialStore,
    private readonly integrations: IntegrationStore,
    private readonly apps: OAuthAppCredentialReader,
    private readonly catalog: ProviderCatalog,
    private readonly oauth: OAuthClient,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'refresh' | 'outbound'>,
  ) {
    // Config guarantees lease > provider timeout + 2 s: a live refresher never loses its lease mid-call.
    this.leaseMs = config.refresh.leaseMs;
    // What a release may wait on another process's refresh of an expired token (REFRESH_RELEASE_WAIT_MS).
    this.waitMs = config.refresh.releaseWaitMs;
    this.callMs = config.outbound.timeoutMs;
    this.backoff = { baseMs: config.refresh.backoffBaseMs, maxMs: config.refresh.backoffMaxMs };
  }

  get leaseDurationMs(): number {
    return this.leaseMs;
  }

  /**
   * On demand: resolves once the stored access token is usable (refreshed here or by a sibling, or
   * still valid after a transient failure). Rejects with `needs_reauth`, or `unavailable` (Retry-After).
   */
  refresh(tenant: TenantId, connectionId: string, window: Pick<RefreshWindow, 'releaseAheadSeconds'> = REFRESH_AHEAD): Promise<void> {
    return this.single(tenant, connectionId, () => this.onDemand(tenant, connectionId, undefined, window));
  }

  /**
   * An access token for `scopes` only (issue 14), for a provider that may rotate refresh tokens:
   * the narrowing call is a refresh like any other — under the lease, marked started, its rotated
   * refresh token committed with compare-and-set before anything else — except that the stored
   * access token is kept and the narrowed one is returned, never stored here. Rejects like `refresh`.
   */
  async narrow(tenant: TenantId, connectionId: string, scopes: string[]): Promise<ParsedGrant> {
    // A flight already running for this connection (a plain refresh, another scope set) is waited out first.
    for (let round = 0; round < 3; round++) {
      let narrowed: ParsedGrant | undefined;
      let ran = false;
      await this.single(
        tenant,
        connectionId,
        () => ((ran = true), this.onDemand(tenant, connectionId, { scopes, deliver: (g) => (narrowed = g) })),
      );
      if (narrowed) return narrowed;
      // Ours ran and delivered nothing (a transient answer, a sibling's commit): no second call now.
      if (ran) break;
    }
    throw unavailable(1);
  }

  /** Scheduled: the worker claimed `c` (it holds the lease). Never rejects for provider outcomes. */
  refreshClaimed(c: ClaimedConnection): Promise<void> {
    return this.single(c.tenant, c.id, () => this.refreshLeased(c, 'scheduled')).catch((err) => {
      if (err instanceof DomainError && (err.code === 'needs_reauth' || err.code === 'unavailable')) return;
      throw err;
    });
  }

  /** A claimed row this refresher will not call for (shutting down): its lease goes back, the row untouched. */
  async giveBack(c: ClaimedConnection): Promise<void> {
    await this.store.releaseLease(c, this.owner, { errorClass: null, failed: false });
  }

  private single(tenant: TenantId, id: string, run: () => Promise<void>): Promise<void> {
    const key = `${tenant}\u0000${id}`;
    let flight = this.inflight.get(key);
    if (!flight) {
      flight = run().finally(() => this.inflight.delete(key));
      this.inflight.set(key, flight);
    }
    return flight;
  }

  private async onDemand(
    tenant: TenantId,
    id: string,
    narrowing?: Narrowing,
    window: Pick<RefreshWindow, 'releaseAheadSeconds'> = REFRESH_AHEAD,
  ): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    let waited = false;
    for (;;) {
      const c = await this.store.load(tenant, id);
      if (!c) throw new DomainError('connection_not_found', 'no connection for this user and integration');
      if (c.status !== 'active') throw needsReauth();
      if (!narrowing && !isDue(c.expiresAt, c.tokenIssuedAt, window)) return; // a sibling refreshed it meanwhile
      const claimed = await this.store.claimLease(c, this.owner, this.leaseMs);
      if (claimed) return this.refreshLeased(claimed, 'on_demand', narrowing);
      // Another process is refreshing it. The current token, while it still works, serves the caller now
      // (a narrower-scope request needs a call of its own: it waits, bounded like any other).
      if (!narrowing && isUsable(c.expiresAt)) return;
      if (!waited) this.report('on_demand', null, 'lease_wait', null, 0);
      waited = true;
      const left = deadline - Date.now();
      if (left <= 0) throw unavailable(Math.max(1, Math.ceil(((c.leaseExpiresAt?.getTime() ?? 0) - Date.now()) / 1000)));
      await sleep(Math.min(100, left)); // wait for its commit, no longer than the caller may
    }
  }

  private async refreshLeased(c: ClaimedConnection, trigger: Trigger, narrowing?: Narrowing): Promise<void> {
    const started = performance.now();
    let provider: ResolvedProvider;
    let previous: { access: Secret | null; refresh: Secret | null };
    try {
      // Everything that can fail on our side happens before the provider is called.
      const integration = await this.integrations.get(c.tenant, c.integration);
      const app = integration ? await this.apps.read(c.tenant, c.integration) : undefined;
      if (!integration || !app) return await this.terminal(c, new ProviderError('terminal', 'integration_changed'), trigger, null);
      provider = this.catalog.resolve(integration.provider, integration.config, app.clientId);
      previous = await this.store.openTokens(c);
      if (!previous.refresh) return await this.terminal(c, new ProviderError('terminal', 'no_refresh_token'), trigger, provider);
      if (narrowing && !previous.access) {
        await this.store.releaseLease(c, this.owner, { errorClass: null, failed: false });
        throw unavailable(1); // nothing to keep as the stored access token: refresh it first
      }
      // The protocol's decisions are the pure transition function's (refresh-transition.ts); this runs them.
      const facts = {
        rotation: provider.entry.refresh.rotation,
        reuseGraceSeconds: provider.entry.refresh.reuseGraceSeconds ?? 0,
        callAgeMs: c.callAgeMs,
        // A batch row reached this late: its lease could run out during the call.
        late: trigger === 'scheduled' && Date.now() - c.claimedAt + this.callMs + 1000 > this.leaseMs,
        stopping: false,
      };
      let state = step({ at: 'claimed', facts }, { on: 'decide' });
      // Only a call that was started can have rotated the token; a claim that never got that far cannot.
      if (state.at === 'indeterminate') return await this.interrupted(c, trigger, provider);
      if (state.at === 'given_back') {
        await this.store.releaseLease(c, this.owner, { errorClass: null, failed: false }); // untouched; the next claim gets a fresh lease
        return;
      }
      // The one write before the call: from here on a successor must assume the token may rotate.
      state = step(state, { on: 'call_marked', ok: await this.store.markCallStarted(c, this.owner) });
      if (state.at === 'given_back') return await this.movedOn(c, trigger, provider, 'lease_lost');
      const called = state;
      let grant: ParsedGrant;
      try {
        grant = narrowing
          ? await this.oauth.refreshNarrowed(provider, app, previous.refresh, narrowing.scopes)
          : await this.oauth.refresh(provider, app, previous.refresh, c.scopes);
      } catch (err) {
        if (!(err instanceof ProviderError)) throw err;
        if (narrowing && err.code === 'invalid_scope') {
          // Refused before any token was issued: nothing rotated, the grant is as healthy as it was.
          await this.store.releaseLease(c, this.owner, { errorClass: null, failed: false, callSettled: true });
          throw new DomainError('scope_exceeds_policy', 'the provider refused the narrower scope set');
        }
        const answered = step(called, { on: 'answer', kind: err.errorClass === 'terminal' ? 'terminal' : 'transient' });
        return answered.at === 'transient'
          ? await this.transient(c, err, trigger, provider, answered.callSettled)
          : await this.terminal(c, err, trigger, provider);
      }
      if (!narrowing) {
        await this.commit(c, trigger, provider, grant, previous.refresh, started);
        return;
      }
      // The stored token stays what it was; only the (possibly rotated) refresh token is new.
      const kept: ParsedGrant = { ...grant, accessToken: previous.access!, expiresAt: c.expiresAt, scopes: c.scopes, metadata: {} };
      if (await this.commit(c, trigger, provider, kept, previous.refresh, started, { narrowed_for: narrowing.scopes }))
        narrowing.deliver(grant);
    } catch (err) {
      if (err instanceof DomainError) throw err;
      // Ours (database, key provider): give the lease back with the token untouched (the provider was
      // not called, or its answer is committed or flagged), and wait a backoff rather than every poll.
      const retryAt = new Date(Date.now() + backoffDelayMs(1, this.backoff));
      await this.store.releaseLease(c, this.owner, { errorClass: 'internal', retryAt, failed: false }).catch(() => undefined);
      this.report(trigger, null, 'internal', 'internal', started);
      throw err;
    }
  }

  /** Commits a refresh's answer; resolves true when it is the stored one (committed, rescued), false when a sibling's stands. */
  private async commit(
    c: ClaimedConnection,
    trigger: Trigger,
    provider: ResolvedProvider,
    grant: ParsedGrant,
    previousRefresh: Secret,
    started: number,
    extra: Record<string, unknown> = {},
  ): Promise<boolean> {
    const rotated = grant.refreshToken !== null && grant.refreshToken.reveal() !== previousRefresh.reveal();
    const next: OAuthCredential = { ...grant, refreshToken: grant.refreshToken ?? previousRefresh };
    const schedule = nextRefreshAt(next.expiresAt, true, provider.entry.refresh);
    const committed = await this.commitWithinLease(c, next, schedule);
    // Audited outside the retry: a failing audit write must not send a committed refresh round again.
    if (committed) return this.committed(c, trigger, provider, started, { trigger, rotated, ...extra });
    // Lost the lease (stalled past it) or the row moved on: find out who holds the latest token.
    for (const deadline = Date.now() + this.leaseMs; ;) {
      const now = await this.store.load(c.tenant, c.id).catch(() => undefined);
      // Flagged after a takeover while the row still holds the token this answer replaces: it is the latest (SECURITY 40).
      if (now?.status === 'refresh_indeterminate' && c.refreshTokenCt && now.refreshTokenCt?.equals(c.refreshTokenCt)) {
        if (
          await this.store
            .rescueRefresh(now, c.refreshTokenCt, next, schedule, this.event(c, 'connection.recovered', { status: 'active' }))
            .catch(() => false)
        ) {
          this.log.warn(`refresh rescued after takeover tenant=${c.tenant} connection=${c.id}`);
          this.report(trigger, provider, 'refreshed', null, started);
          await this.record(c, 'allowed', undefined, { trigger, rotated, rescued: true, ...extra });
          return true;
        }
      }
      if (now && now.version !== c.version && now.status === 'active' && (await this.holds(now, next))) {
        // An attempt whose reply was lost (connection reset after COMMIT) did commit: ours is stored.
        return this.committed(c, trigger, provider, started, { trigger, rotated, ...extra });
      }
      if (now && now.version !== c.version && now.status !== 'refresh_indeterminate') {
        // A sibling committed (possible only for providers that never rotate, or a user reconnect): its token stands.
        this.report(trigger, provider, 'sibling', 'stale_writer', started);
        await this.record(c, 'error', 'stale_writer', { trigger, rotated });
        return false;
      }
      if (!now || Date.now() > deadline) break;
      await sleep(100); // a successor holds the lease and is about to flag the row
    }
    this.log.error(
      `ALERT refresh_indeterminate tenant=${c.tenant} connection=${c.id} rotated=${rotated} (the provider answered; the commit failed)`,
    );
    const failed = this.event(c, 'connection.refresh_failed', { status: 'refresh_indeterminate', error_class: 'commit_failed' });
    await this.store.markStatus(c, 'refresh_indeterminate', 'commit_failed', this.owner, failed).catch(() => false);
    this.report(trigger, provider, 'indeterminate', 'commit_failed', started);
    await this.record(c, 'error', 'refresh_indeterminate', { trigger, rotated }).catch(() => undefined);
    throw unavailable(1);
  }

  /**
   * The rotated refresh token exists only in memory until this commit (nothing is spilled to disk):
   * retry through database and key provider blips with backoff for as long as the lease allows,
   * renewing the lease whenever the database answers near its end (so no successor takes the row
   * over while the answer is still on its way). False: the compare-and-set found the row moved on.
   */
  private async commitWithinLease(c: ClaimedConnection, next: OAuthCredential, schedule: Date | null): Promise<boolean> {
    let deadline = c.claimedAt + this.leaseMs - COMMIT_MARGIN_MS;
    let renewals = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const recovered = c.refreshFailures > 0 ? this.event(c, 'connection.recovered', { status: 'active' }) : undefined;
        return await this.store.commitRefresh(c, next, schedule, recovered);
      } catch {
        const delay = Math.min(1000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
        if (Date.now() + delay > deadline) {
          const renewed = renewals < MAX_LEASE_RENEWALS && (await this.store.renewLease(c, this.owner, this.leaseMs).catch(() => false));
          if (!renewed) return false;
          renewals += 1;
          deadline = Date.now() + this.leaseMs - COMMIT_MARGIN_MS;
        }
        await sleep(delay);
      }
    }
  }

  private async committed(
    c: ClaimedConnection,
    trigger: Trigger,
    provider: ResolvedProvider,
    started: number,
    details: Record<string, unknown>,
  ): Promise<boolean> {
    this.report(trigger, provider, 'refreshed', null, started);
    await this.record(c, 'allowed', undefined, details);
    return true;
  }

  /** Whether the stored row holds the access token of `next` (opened; a key error means no). */
  private async holds(now: RefreshableConnection, next: OAuthCredential): Promise<boolean> {
    const stored = await this.store.openTokens(now).catch(() => undefined);
    return stored?.access?.equals(next.accessToken) ?? false;
  }

  /**
   * The row moved on since this claim (a sibling committed, the earlier holder came back, the user
   * reconnected): its state stands, nothing is flagged. Resolves if it is active, else needs_reauth.
   */
  private async movedOn(c: ClaimedConnection, trigger: Trigger, provider: ResolvedProvider | null, code: string): Promise<void> {
    const now = await this.store.load(c.tenant, c.id);
    this.report(trigger, provider, 'sibling', code, 0);
    if (now?.status === 'active') return;
    throw needsReauth();
  }

  /** The previous holder's lease expired mid-refresh and this provider may rotate: a second call could burn the family. */
  private async interrupted(c: ClaimedConnection, trigger: Trigger, provider: ResolvedProvider): Promise<void> {
    const failed = this.event(c, 'connection.refresh_failed', { status: 'refresh_indeterminate', error_class: 'interrupted' });
    if (!(await this.store.markStatus(c, 'refresh_indeterminate', 'interrupted', c.takenOverFrom, failed)))
      return this.movedOn(c, trigger, provider, 'interrupted');
    this.log.error(`ALERT refresh_indeterminate tenant=${c.tenant} connection=${c.id} (lease of ${c.takenOverFrom} expired mid-refresh)`);
    this.report(trigger, provider, 'indeterminate', 'interrupted', 0);
    await this.record(c, 'error', 'refresh_indeterminate', { trigger, interrupted: true });
    throw needsReauth();
  }

  private async terminal(c: ClaimedConnection, err: ProviderError, trigger: Trigger, provider: ResolvedProvider | null): Promise<void> {
    // `invalid_grant` because a sibling already rotated the token is not the user's problem: re-read first.
    const now = await this.store.load(c.tenant, c.id);
    if (now && now.version !== c.version) {
      this.report(trigger, provider, 'sibling', err.code, 0);
      if (now.status === 'active') return;
      throw needsReauth();
    }
    // After an interrupted refresh the grant may have died of the interruption: say so, not "the user revoked it".
    const status = c.callStartedAt ? 'refresh_indeterminate' : 'needs_reauth';
    const event = this.event(c, status === 'needs_reauth' ? 'connection.needs_reauth' : 'connection.refresh_failed', {
      status,
      error_class: `terminal:${err.code}`,
    });
    if (!(await this.store.markStatus(c, status, `terminal:${err.code}`, c.takenOverFrom, event)))
      return this.movedOn(c, trigger, provider, err.code);
    this.report(trigger, provider, status === 'needs_reauth' ? 'terminal' : 'indeterminate', err.code, 0);
    await this.record(c, 'denied', status, { trigger, provider_error: err.code });
    throw needsReauth();
  }

  private async transient(
    c: ClaimedConnection,
    err: ProviderError,
    trigger: Trigger,
    provider: ResolvedProvider,
    callSettled: boolean,
  ): Promise<void> {
    const errorClass = `${err.errorClass}:${err.code}`;
    const delay = backoffDelayMs(c.refreshFailures + 1, this.backoff, err.retryAfterSeconds);
    // The first failure of a streak is news; the retries that follow are not.
    const event =
      c.refreshFailures === 0 ? this.event(c, 'connection.refresh_failed', { status: 'active', error_class: errorClass }) : undefined;
    const retryAt = new Date(Date.now() + delay);
    // The provider answered our call: it is settled, unless an earlier interrupted call is still outstanding.
    const settled = { errorClass, retryAt, failed: true, callSettled };
    if (!(await this.store.releaseLease(c, this.owner, settled, event))) await this.refusedAfterTakeover(c, err, errorClass, retryAt);
    this.report(trigger, provider, 'transient', err.code, 0);
    await this.record(c, 'error', 'provider_unavailable', {
      trigger,
      provider_error: err.code,
      status: err.status,
      retry_in_seconds: Math.round(delay / 1000),
    });
    // The token it would have replaced is still good: release that one.
    if (c.expiresAt && c.expiresAt.getTime() > Date.now()) return;
    throw unavailable(err.retryAfterSeconds ?? 5);
  }

  /**
   * This refresher's lease was taken over while it waited for the provider, and the successor (making
   * no call of its own) flagged the row `refresh_indeterminate`. A 429 or 503 means the provider did
   * not process the call, so nothing rotated: the row, still holding the token tried, is active again.
   * A timeout or another 5xx proves nothing, and the flag stays.
   */
  private async refusedAfterTakeover(c: ClaimedConnection, err: ProviderError, errorClass: string, retryAt: Date): Promise<void> {
    if (err.status !== 429 && err.status !== 503) return;
    const now = await this.store.load(c.tenant, c.id);
    if (!now || now.status !== 'refresh_indeterminate' || !c.refreshTokenCt || !now.refreshTokenCt?.equals(c.refreshTokenCt)) return;
    const recovered = this.event(c, 'connection.recovered', { status: 'active' });
    if (await this.store.clearIndeterminate(now, c.refreshTokenCt, { errorClass, retryAt }, recovered)) {
      this.log.warn(
        `refresh_indeterminate cleared tenant=${c.tenant} connection=${c.id} (the provider refused the interrupted call: ${err.status})`,
      );
    }
  }

  private report(
    trigger: Trigger,
    provider: ResolvedProvider | null,
    outcome: RefreshOutcome,
    errorClass: string | null,
    started: number,
  ): void {
    reportRefresh(() => ({
      source: this,
      provider: provider?.entry.id ?? 'unknown',
      trigger,
      outcome,
      errorClass,
      seconds: started ? (performance.now() - started) / 1000 : 0,
    }));
  }

  private async record(
    c: RefreshableConnection,
    outcome: 'allowed' | 'denied' | 'error',
    reason: string | undefined,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record({
      tenant: c.tenant,
      action: 'connection.refresh',
      outcome,
      reason,
      subject: c.subject || undefined,
      integration: c.integration,
      details: { connection: c.id, version: c.version, ...details },
    });
  }

  private event(c: RefreshableConnection, type: ConnectionEventType, data: Record<string, unknown>): ConnectionEvent {
    return { tenant: c.tenant, type, data: { connection_id: c.id, integration: c.integration, user: c.subject || null, ...data } };
  }
}

/** A commit retry stops this long before the lease ends, so it never races a successor's takeover. */
const COMMIT_MARGIN_MS = 1000;
/** A commit failing while the database answers (the key provider is down) renews its lease this often at most. */
const MAX_LEASE_RENEWALS = 3;

function needsReauth(): DomainError {
  return new DomainError('needs_reauth', 'the connection must be re-authorized by the user');
}

function unavailable(retryAfter: number): DomainError {
  return new DomainError('unavailable', 'The provider is unavailable; nothing was released. Try again later.', { retryAfter });
}
