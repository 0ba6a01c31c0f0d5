import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { ClaimedConnection, ConnectionRecord, IntegrationStore, OAuthAppCredentialReader, OAuthCredentialStore } from '../connections';
import { DomainError, TenantId } from '../kernel';
import { reportRefresh, RefreshOutcome } from '../observability';
import { OAuthClient, ParsedGrant, ProviderCatalog, REFRESH_AHEAD, ResolvedProvider } from '../oauth';
import { Narrowing, RefreshRun, RunDeps, Trigger, unavailable, needsReauth } from './refresh-run';
import { backoffDelayMs, isDue, RefreshWindow } from './refresh-schedule';
import { ClaimFacts, FINAL, RefreshState, step } from './refresh-transition';

/** A token with less than this left is not handed out while another process refreshes it. */
const MIN_RELEASE_VALIDITY_MS = 1000;

/** Whether the token may be released as it is: it has not expired (and will not within a second). */
export function isUsable(expiresAt: Date | null, now = Date.now()): boolean {
  return expiresAt === null || expiresAt.getTime() - now >= MIN_RELEASE_VALIDITY_MS;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Outcome = ConnectionRecord | undefined;

/** One refresh of a connection in this process: every caller for that connection joins it. */
interface Flight {
  /** The refresh's whole work (to its commit, flag or give-back); the flight stays in `inflight` until it ends. */
  done: Promise<Outcome>;
  /** Resolves if it claimed the row only after waiting on another holder's lease: from then on a caller's wait is bounded. */
  tookOver: Promise<void>;
}

const SPENT = Symbol('wait budget spent');

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
 * - terminal answers set `needs_reauth` with compare-and-set on the claimed version (a sibling may
 *   have won: then its state stands); transient ones keep the token and back off with jitter,
 *   honouring Retry-After.
 * Nothing is ever deleted here. Every decision is the transition function's (refresh-transition.ts);
 * each state's effect is RefreshRun's (refresh-run.ts); this class claims, waits and drives.
 */
@Injectable()
export class ConnectionRefresher implements BeforeApplicationShutdown {
  private readonly log = new Logger('refresh');
  private readonly inflight = new Map<string, Flight>();
  /** Lease give-backs retried in the background while our database is away (`giveBackWithinLease`). */
  private readonly givingBack = new Set<Promise<void>>();
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;
  private readonly waitMs: number;
  private readonly callMs: number;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly deps: RunDeps;

  constructor(
    private readonly store: OAuthCredentialStore,
    private readonly integrations: IntegrationStore,
    private readonly apps: OAuthAppCredentialReader,
    private readonly catalog: ProviderCatalog,
    oauth: OAuthClient,
    audit: AuditLog,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'refresh' | 'outbound'>,
  ) {
    // Config guarantees lease > provider timeout + 2 s: a live refresher never loses its lease mid-call.
    this.leaseMs = config.refresh.leaseMs;
    // What a release may wait on another process's refresh of an expired token (REFRESH_RELEASE_WAIT_MS).
    this.waitMs = config.refresh.releaseWaitMs;
    this.callMs = config.outbound.timeoutMs;
    this.backoff = { baseMs: config.refresh.backoffBaseMs, maxMs: config.refresh.backoffMaxMs };
    const { leaseMs, backoff, owner, log } = this;
    this.deps = { store, oauth, audit, owner, leaseMs, backoff, log, source: this };
  }

  get leaseDurationMs(): number {
    return this.leaseMs;
  }

  /**
   * On demand: resolves once the stored access token is usable (refreshed here or by a sibling, or
   * still valid after a transient failure), with the row as the refresh stored or found it (the
   * caller reads nothing again; undefined: the row is gone). Rejects with `needs_reauth`, or
   * `unavailable` (Retry-After).
   */
  refresh(
    tenant: TenantId,
    connectionId: string,
    window: Pick<RefreshWindow, 'releaseAheadSeconds'> = REFRESH_AHEAD,
  ): Promise<ConnectionRecord | undefined> {
    const deadline = Date.now() + this.waitMs;
    return this.within(
      deadline,
      this.single(tenant, connectionId, (tookOver) => this.onDemand(tenant, connectionId, tookOver, undefined, window)),
    );
  }

  /**
   * An access token for `scopes` only (issue 14), for a provider that may rotate refresh tokens:
   * the narrowing call is a refresh like any other — under the lease, marked started, its rotated
   * refresh token committed with compare-and-set before anything else — except that the stored
   * access token is kept and the narrowed one is returned, never stored here. Rejects like `refresh`.
   */
  async narrow(tenant: TenantId, connectionId: string, scopes: string[]): Promise<ParsedGrant> {
    const deadline = Date.now() + this.waitMs;
    // A flight already running for this connection (a plain refresh, another scope set) is waited out first.
    for (let round = 0; round < 3; round++) {
      let narrowed: ParsedGrant | undefined;
      let ran = false;
      const flight = this.single(
        tenant,
        connectionId,
        (tookOver) => ((ran = true), this.onDemand(tenant, connectionId, tookOver, { scopes, deliver: (g) => (narrowed = g) })),
      );
      await this.within(deadline, flight);
      if (narrowed) return narrowed;
      // Ours ran and delivered nothing (a transient answer, a sibling's commit): no second call now.
      if (ran) break;
    }
    throw unavailable(1);
  }

  /**
   * Shutdown (after the HTTP requests drained, before the pool closes): the refreshes still running
   * finish — a flight whose callers left once their wait was spent (issue 15) goes on with no request
   * to hold shutdown for it — and so do the lease give-backs being retried. Unawaited, a provider
   * answer arriving after the pool's end could not be committed: the rotated refresh token was lost
   * and the row kept one the provider had replaced. Bounded like RefreshScheduler.stop (a call ends
   * within its timeout, a commit retries within the lease): the bound is reached only if something hangs.
   */
  async beforeApplicationShutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'bound'>((resolve) => (timer = setTimeout(() => resolve('bound'), 2 * this.leaseMs)));
    try {
      // A flight or give-back may start another (a flight's failure retries its give-back): until none is left.
      while (this.inflight.size > 0 || this.givingBack.size > 0) {
        const running = [...[...this.inflight.values()].map((f) => f.done), ...this.givingBack];
        if ((await Promise.race([Promise.allSettled(running), bound])) === 'bound') return;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Scheduled: the worker claimed `c` (it holds the lease). Never rejects for provider outcomes. */
  async refreshClaimed(c: ClaimedConnection): Promise<void> {
    await this.single(c.tenant, c.id, () => this.refreshLeased(c, 'scheduled')).done.catch((err) => {
      if (err instanceof DomainError && (err.code === 'needs_reauth' || err.code === 'unavailable')) return;
      throw err;
    });
  }

  /** A claimed row this refresher will not call for (shutting down): its lease goes back, the row untouched. */
  async giveBack(c: ClaimedConnection): Promise<void> {
    await this.store.releaseLease(c, this.owner, { errorClass: null, failed: false });
  }

  private single(tenant: TenantId, id: string, run: (tookOver: () => void) => Promise<Outcome>): Flight {
    const key = `${tenant}\u0000${id}`;
    let flight = this.inflight.get(key);
    if (!flight) {
      let tookOver!: () => void;
      const taken = new Promise<void>((r) => (tookOver = r));
      flight = { done: run(tookOver).finally(() => this.inflight.delete(key)), tookOver: taken };
      this.inflight.set(key, flight);
    }
    return flight;
  }

  /**
   * A caller's share of a flight: its outcome, except that once the flight took a row over after
   * waiting on another holder's lease (that holder died or gave up), the caller waits no longer than
   * its budget, REFRESH_RELEASE_WAIT_MS from when it began (issue 15): then `unavailable`, while the
   * refresh goes on in the background and commits for the next caller. A flight that claimed at once
   * is waited for whole (bounded by OUTBOUND_TIMEOUT_MS).
   */
  private async within(deadline: number, flight: Flight): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const spent = new Promise<typeof SPENT>((resolve) => {
      void flight.tookOver.then(() => {
        if (!settled) timer = setTimeout(() => resolve(SPENT), Math.max(0, deadline - Date.now()));
      });
    });
    try {
      const outcome = await Promise.race([flight.done, spent]);
      // The refresh it started is on its way: a retry a second from now finds its token or joins it.
      if (outcome === SPENT) throw unavailable(1);
      return outcome;
    } finally {
      settled = true;
      clearTimeout(timer);
    }
  }

  private async onDemand(
    tenant: TenantId,
    id: string,
    tookOver: () => void,
    narrowing?: Narrowing,
    window: Pick<RefreshWindow, 'releaseAheadSeconds'> = REFRESH_AHEAD,
  ): Promise<ConnectionRecord | undefined> {
    const deadline = Date.now() + this.waitMs;
    let waited = false;
    for (;;) {
      const c = await this.store.load(tenant, id);
      if (!c) throw new DomainError('connection_not_found', 'no connection for this user and integration');
      if (c.status !== 'active') throw needsReauth();
      if (!narrowing && !isDue(c.expiresAt, c.tokenIssuedAt, window)) return c; // a sibling refreshed it meanwhile
      const claimed = await this.store.claimLease(c, this.owner, this.leaseMs);
      if (claimed && waited) tookOver();
      if (claimed) return this.refreshLeased(claimed, 'on_demand', narrowing);
      // Another process is refreshing it. The current token, while it still works, serves the caller now
      // (a narrower-scope request needs a call of its own: it waits, bounded like any other).
      if (!narrowing && isUsable(c.expiresAt)) return c;
      if (!waited) this.report('on_demand', null, 'lease_wait', null, 0);
      waited = true;
      const left = deadline - Date.now();
      if (left <= 0) throw unavailable(Math.max(1, Math.ceil(((c.leaseExpiresAt?.getTime() ?? 0) - Date.now()) / 1000)));
      await sleep(Math.min(100, left)); // wait for its commit, no longer than the caller may
    }
  }

  /**
   * Drives one claimed refresh through the transition function: reads what the call needs (our own
   * faults come first and prevent it), then performs each state's effect until a final state.
   */
  private async refreshLeased(c: ClaimedConnection, trigger: Trigger, narrowing?: Narrowing): Promise<ConnectionRecord | undefined> {
    const started = performance.now();
    let run: RefreshRun | undefined;
    try {
      const integration = await this.integrations.get(c.tenant, c.integration);
      const app = integration ? await this.apps.read(c.tenant, c.integration) : undefined;
      const provider = integration && app ? this.catalog.resolve(integration.provider, integration.config, app.clientId) : null;
      const previous = provider ? await this.store.openTokens(c) : { access: null, refresh: null };
      run = new RefreshRun(this.deps, c, trigger, provider, app, previous, narrowing);
      let state: RefreshState;
      if (!provider || !previous.refresh) {
        run.unrefreshable(provider ? 'no_refresh_token' : 'integration_changed');
        state = step({ at: 'claimed', facts: this.facts(c, trigger, provider) }, { on: 'unrefreshable' });
      } else {
        const facts = { ...this.facts(c, trigger, provider), nothingToKeep: !!narrowing && !previous.access };
        state = step({ at: 'claimed', facts }, { on: 'decide' });
      }
      try {
        while (!FINAL.has(state.at)) state = step(state, await run.effect(state));
      } finally {
        run.closeUnsent();
      }
      await run.finish(state);
      return run.outcomeRow;
    } catch (err) {
      if (err instanceof DomainError) throw err;
      // Ours (database, key provider): give the lease back with the token untouched (the provider was
      // not called, or its answer is committed or flagged), and wait a backoff rather than every poll.
      const retryAt = new Date(Date.now() + backoffDelayMs(1, this.backoff));
      // No call was attempted and none was outstanding at the claim: a call-start mark on the row can
      // only be this run's (its write committed, its reply lost), and nothing rotated: clear it, or a
      // successor would flag the row refresh_indeterminate for a call the provider never saw (issue 15).
      const callSettled = c.callAgeMs === null && !run?.callAttempted;
      const giveBack = () => this.store.releaseLease(c, this.owner, { errorClass: 'internal', retryAt, failed: false, callSettled });
      const gaveBack = await giveBack().then(
        () => true,
        () => false,
      );
      if (!gaveBack && callSettled) {
        // In the background (the caller is answered now); shutdown waits for it.
        const retrying = this.giveBackWithinLease(c, giveBack).finally(() => this.givingBack.delete(retrying));
        this.givingBack.add(retrying);
      }
      this.report(trigger, null, 'internal', 'internal', started);
      throw err;
    }
  }

  /** Our database is away: retry giving the lease back (clearing the mark) until the lease ends, in the background. */
  private async giveBackWithinLease(c: ClaimedConnection, giveBack: () => Promise<unknown>): Promise<void> {
    for (let attempt = 0; Date.now() < c.claimedAt + this.leaseMs - 500; attempt++) {
      await sleep(Math.min(1000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
      if (
        await giveBack().then(
          () => true,
          () => false,
        )
      )
        return;
    }
  }

  private facts(c: ClaimedConnection, trigger: Trigger, provider: ResolvedProvider | null): ClaimFacts {
    return {
      rotation: provider?.entry.refresh.rotation ?? 'always',
      reuseGraceSeconds: provider?.entry.refresh.reuseGraceSeconds ?? 0,
      callAgeMs: c.callAgeMs,
      // A batch row reached this late: its lease could run out during the call.
      late: trigger === 'scheduled' && Date.now() - c.claimedAt + this.callMs + 1000 > this.leaseMs,
      stopping: false,
    };
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
}
