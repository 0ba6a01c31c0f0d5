import { Logger } from '@nestjs/common';
import type { AuditLog } from '../audit';
import {
  CasResult,
  ClaimedConnection,
  ConnectionEvent,
  ConnectionRecord as Connection,
  ConnectionEventType,
  OAuthCredential,
  OAuthCredentialStore,
} from '../connections';
import { DomainError, Secret } from '../kernel';
import { reportRefresh, RefreshOutcome } from '../observability';
import type { OAuthAppCredentials } from '../connections';
import { OAuthClient, OpenRefresh, ParsedGrant, ProviderError, ResolvedProvider } from '../oauth';
import { backoffDelayMs, nextRefreshAt } from './refresh-schedule';
import { RefreshEvent, RefreshState, RowNow } from './refresh-transition';

export type Trigger = 'on_demand' | 'scheduled';

/** A refresh asking for a narrower scope set (issue 14): the stored access token stays, the narrowed one goes to `deliver`. */
export interface Narrowing {
  scopes: string[];
  deliver: (grant: ParsedGrant) => void;
}

/** What a run needs of its refresher: the parts it shares with every run. */
export interface RunDeps {
  store: OAuthCredentialStore;
  oauth: OAuthClient;
  audit: AuditLog;
  owner: string;
  leaseMs: number;
  backoff: { baseMs: number; maxMs: number };
  log: Logger;
  source: object;
}

/** A commit retry stops this long before the lease ends, so it never races a successor's takeover. */
const COMMIT_MARGIN_MS = 1000;
/** A commit failing while the database answers (the key provider is down) renews its lease this often at most. */
const MAX_LEASE_RENEWALS = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One claimed refresh: the effect each state of the transition function names (refresh-transition.ts),
 * and what its final state means for the caller. No decision is taken here; each effect reports
 * what happened as an event. Compare-and-set writes return the row, so nothing is re-read after one.
 */
export class RefreshRun {
  private readonly started = performance.now();
  private answer?: { grant: ParsedGrant; next: OAuthCredential; schedule: Date | null; rotated: boolean };
  private providerError?: ProviderError;
  /** The row a missed write returned: what rescue, clearing and the lost-reply check work on. */
  private seen?: Connection;
  private deadline?: number;
  /** The row as this run last wrote or saw it: what the caller gets back (no re-read after a compare-and-set). */
  private latest: Connection | undefined | 'claimed' = 'claimed';
  /** What the flag or the moved-on report names (a provider error code, `interrupted`, `lease_lost`). */
  private code = 'lease_lost';
  /** Set just before the provider call is attempted: from then on the call may have reached the provider. */
  callAttempted = false;
  /** The connection to the token endpoint, opened before the call-start mark and used once it is written. */
  private opened?: OpenRefresh;

  constructor(
    private readonly d: RunDeps,
    private readonly c: ClaimedConnection,
    private readonly trigger: Trigger,
    private readonly provider: ResolvedProvider | null,
    private readonly app: OAuthAppCredentials | undefined,
    private readonly previous: { access: Secret | null; refresh: Secret | null },
    private readonly narrowing?: Narrowing,
  ) {}

  /** Before any call: the integration, its app or the refresh token is missing. */
  unrefreshable(code: string): void {
    this.code = code;
    this.providerError = new ProviderError('terminal', code);
  }

  /** The connection as this run left it: the row its last compare-and-set returned or its last look found (undefined: gone), else the claim. */
  get outcomeRow(): Connection | undefined {
    return this.latest === 'claimed' ? this.c : this.latest;
  }

  /** Performs the effect of a non-final state and reports its outcome. */
  async effect(s: RefreshState): Promise<RefreshEvent> {
    const { store, owner } = this.d;
    const c = this.c;
    switch (s.at) {
      case 'calling': {
        // Connected first, marked second, sent third: a kill between the mark and the request leaving
        // (which a successor must treat as a call that may have rotated the token) spans only the mark's reply.
        if (!(await this.open())) return { on: 'unreachable' };
        const r = await store.markCallStarted(c, owner).catch((err: unknown) => {
          this.closeUnsent();
          throw err;
        });
        if (!r.written) this.closeUnsent();
        return this.missed('call_marked', r);
      }
      case 'called':
        return this.call();
      case 'committing': {
        const r = await this.commitWithinLease();
        if (r?.written) this.latest = r.row;
        if (r?.written) return { on: 'commit', result: 'stored' };
        return r ? this.row(r.row) : { on: 'commit', result: 'failed' };
      }
      case 'checking':
        return { on: 'checked', holdsAnswer: await this.holdsAnswer() };
      case 'rescuing': {
        const recovered = this.event('connection.recovered', { status: 'active' });
        const { next, schedule } = this.answer!;
        const r = await store.rescueRefresh(this.seen!, c.refreshTokenCt!, next, schedule, recovered).catch(() => undefined);
        if (!r) return { on: 'unknown' };
        if (r.written) this.latest = r.row;
        return r.written ? { on: 'rescued' } : this.row(r.row);
      }
      case 'waiting': {
        await sleep(100); // a successor holds the lease and is about to flag the row
        return this.row(await store.load(c.tenant, c.id).catch(() => undefined));
      }
      case 'flagging':
        return this.missed('flagged', await this.flag(s.status, s.why));
      case 'backing_off':
        return this.missed('released', await this.backOff(s.callSettled));
      case 'clearing': {
        const err = this.providerError!;
        const retryAt = new Date(Date.now() + this.delayMs());
        const recovered = this.event('connection.recovered', { status: 'active' });
        const out = { errorClass: `${err.errorClass}:${err.code}`, retryAt };
        const r = await store.clearIndeterminate(this.seen!, c.refreshTokenCt!, out, recovered);
        if (r.written)
          this.d.log.warn(
            `refresh_indeterminate cleared tenant=${c.tenant} connection=${c.id} ` +
              `(the provider refused the interrupted call: ${err.status})`,
          );
        return { on: 'cleared', written: r.written };
      }
      case 'giving_back': {
        const r = await store.releaseLease(c, owner, { errorClass: null, failed: false, callSettled: s.callSettled });
        this.latest = r.row;
        return { on: 'released', written: r.written };
      }
      default:
        throw new Error(`refresh run: ${s.at} has no effect`);
    }
  }

  /**
   * What a final state means: metrics, audit, alerts, and for the caller resolve (the stored token
   * is usable or a sibling's stands), or reject with `needs_reauth` or `unavailable`.
   * Resolves true when this run's answer is the stored one.
   */
  async finish(s: RefreshState): Promise<boolean> {
    const c = this.c;
    const err = this.providerError;
    switch (s.at) {
      case 'committed': {
        const { grant, rotated } = this.answer!;
        if (s.how === 'rescued') this.d.log.warn(`refresh rescued after takeover tenant=${c.tenant} connection=${c.id}`);
        this.report('refreshed', null);
        const narrowed = this.narrowing ? { narrowed_for: this.narrowing.scopes } : {};
        await this.record('allowed', undefined, {
          trigger: this.trigger,
          rotated,
          ...(s.how === 'rescued' ? { rescued: true } : {}),
          ...narrowed,
        });
        if (this.narrowing) this.narrowing.deliver(grant);
        return true;
      }
      case 'superseded':
        // A sibling committed (possible only for providers that never rotate, or a user reconnect): its token stands.
        this.report('sibling', 'stale_writer');
        await this.record('error', 'stale_writer', { trigger: this.trigger, rotated: this.answer?.rotated });
        return false;
      case 'moved_on':
        this.report('sibling', this.code, false);
        if (s.active) return false;
        throw needsReauth();
      case 'transient': {
        const delay = this.delayMs();
        this.report('transient', err!.code, false);
        await this.record('error', 'provider_unavailable', {
          trigger: this.trigger,
          provider_error: err!.code,
          status: err!.status,
          retry_in_seconds: Math.round(delay / 1000),
        });
        // The token it would have replaced is still good: release that one.
        if (c.expiresAt && c.expiresAt.getTime() > Date.now()) return false;
        throw unavailable(err!.retryAfterSeconds ?? 5);
      }
      case 'terminal':
        this.report('terminal', err!.code, false);
        await this.record('denied', 'needs_reauth', { trigger: this.trigger, provider_error: err!.code });
        throw needsReauth();
      case 'indeterminate':
        return this.indeterminate(s.why);
      case 'given_back':
        if (s.reason === 'nothing_to_keep') throw unavailable(1); // nothing to keep as the stored access token: refresh it first
        if (s.reason === 'scope_refused') throw new DomainError('scope_exceeds_policy', 'the provider refused the narrower scope set');
        return false; // untouched; the next claim gets a fresh lease
      default:
        throw new Error(`refresh run: ${s.at} is not final`);
    }
  }

  private async indeterminate(why: 'interrupted' | 'terminal_after_interruption' | 'commit_failed'): Promise<never> {
    const c = this.c;
    if (why === 'interrupted') {
      this.d.log.error(
        `ALERT refresh_indeterminate tenant=${c.tenant} connection=${c.id} (lease of ${c.takenOverFrom} expired mid-refresh)`,
      );
      this.report('indeterminate', 'interrupted', false);
      await this.record('error', 'refresh_indeterminate', { trigger: this.trigger, interrupted: true });
      throw needsReauth();
    }
    if (why === 'terminal_after_interruption') {
      this.report('indeterminate', this.providerError!.code, false);
      await this.record('denied', 'refresh_indeterminate', { trigger: this.trigger, provider_error: this.providerError!.code });
      throw needsReauth();
    }
    const rotated = this.answer?.rotated ?? false;
    this.d.log.error(
      `ALERT refresh_indeterminate tenant=${c.tenant} connection=${c.id} rotated=${rotated} (the provider answered; the commit failed)`,
    );
    this.report('indeterminate', 'commit_failed');
    await this.record('error', 'refresh_indeterminate', { trigger: this.trigger, rotated }).catch(() => undefined);
    throw unavailable(1);
  }

  /** A connection to the token endpoint that was opened and never sent on (the mark missed or failed, the run ended): closed. */
  closeUnsent(): void {
    this.opened?.close();
    this.opened = undefined;
  }

  /** Opens the connection of the call; false when the token endpoint cannot be reached (the failure is kept for the backoff). */
  private async open(): Promise<boolean> {
    const { provider, app, previous, narrowing, c } = this;
    try {
      const scopes = narrowing ? { narrowTo: narrowing.scopes } : { granted: c.scopes };
      this.opened = await this.d.oauth.openRefresh(provider!, app!, previous.refresh!, scopes);
      return true;
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err;
      this.providerError = err;
      this.code = err.code;
      return false;
    }
  }

  private async call(): Promise<RefreshEvent> {
    const { narrowing } = this;
    const opened = this.opened!;
    this.opened = undefined;
    this.callAttempted = true;
    try {
      this.keep(await opened.send());
      return { on: 'answer', kind: 'ok' };
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err;
      this.providerError = err;
      this.code = err.code;
      if (narrowing && err.code === 'invalid_scope') return { on: 'answer', kind: 'scope_refused' };
      if (err.errorClass === 'terminal') return { on: 'answer', kind: 'terminal' };
      return { on: 'answer', kind: 'transient', refused: err.status === 429 || err.status === 503 };
    }
  }

  /** The answer, as it will be stored: a narrowing keeps the stored access token; only the (possibly rotated) refresh token is new. */
  private keep(grant: ParsedGrant): void {
    const prev = this.previous.refresh!;
    const c = this.c;
    const stored: ParsedGrant = this.narrowing
      ? { ...grant, accessToken: this.previous.access!, expiresAt: c.expiresAt, scopes: c.scopes, metadata: {} }
      : grant;
    const rotated = grant.refreshToken !== null && grant.refreshToken.reveal() !== prev.reveal();
    const next: OAuthCredential = { ...stored, refreshToken: stored.refreshToken ?? prev };
    this.answer = { grant, next, schedule: nextRefreshAt(next.expiresAt, true, this.provider!.entry.refresh), rotated };
  }

  /**
   * The rotated refresh token exists only in memory until this commit (nothing is spilled to disk):
   * retry through database and key provider blips with backoff for as long as the lease allows,
   * renewing the lease whenever the database answers near its end (so no successor takes the row
   * over while the answer is still on its way). Undefined: the faults outlasted the lease.
   */
  private async commitWithinLease(): Promise<CasResult | undefined> {
    const { store, owner, leaseMs } = this.d;
    const c = this.c;
    const { next, schedule } = this.answer!;
    let deadline = c.claimedAt + leaseMs - COMMIT_MARGIN_MS;
    let renewals = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const recovered = c.refreshFailures > 0 ? this.event('connection.recovered', { status: 'active' }) : undefined;
        return await store.commitRefresh(c, next, schedule, recovered);
      } catch {
        const delay = Math.min(1000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
        if (Date.now() + delay > deadline) {
          const renewed = renewals < MAX_LEASE_RENEWALS && (await store.renewLease(c, owner, leaseMs).catch(() => undefined))?.written;
          if (!renewed) return undefined;
          renewals += 1;
          deadline = Date.now() + leaseMs - COMMIT_MARGIN_MS;
        }
        await sleep(delay);
      }
    }
  }

  /** Whether the row a missed commit found holds this answer's access token (opened; a key error means no). */
  private async holdsAnswer(): Promise<boolean> {
    const stored = await this.d.store.openTokens(this.seen!).catch(() => undefined);
    return stored?.access?.equals(this.answer!.next.accessToken) ?? false;
  }

  private flag(status: 'needs_reauth' | 'refresh_indeterminate', why: string): Promise<CasResult> {
    const c = this.c;
    if (why === 'commit_failed') {
      const failed = this.event('connection.refresh_failed', { status, error_class: 'commit_failed' });
      return this.d.store.markStatus(c, status, 'commit_failed', this.d.owner, failed).catch(() => ({ written: false, row: undefined }));
    }
    const errorClass = why === 'interrupted' ? 'interrupted' : `terminal:${this.providerError!.code}`;
    if (why === 'interrupted') this.code = 'interrupted';
    const type: ConnectionEventType = status === 'needs_reauth' ? 'connection.needs_reauth' : 'connection.refresh_failed';
    return this.d.store.markStatus(c, status, errorClass, c.takenOverFrom, this.event(type, { status, error_class: errorClass }));
  }

  private backOff(callSettled: boolean): Promise<CasResult> {
    const c = this.c;
    const err = this.providerError!;
    const errorClass = `${err.errorClass}:${err.code}`;
    // The first failure of a streak is news; the retries that follow are not.
    const event =
      c.refreshFailures === 0 ? this.event('connection.refresh_failed', { status: 'active', error_class: errorClass }) : undefined;
    const retryAt = new Date(Date.now() + this.delayMs());
    return this.d.store.releaseLease(c, this.d.owner, { errorClass, retryAt, failed: true, callSettled }, event);
  }

  private delayCache?: number;
  /** The backoff before the next attempt after this transient answer (one draw per run). */
  private delayMs(): number {
    this.delayCache ??= backoffDelayMs(this.c.refreshFailures + 1, this.d.backoff, this.providerError?.retryAfterSeconds);
    return this.delayCache;
  }

  /** A missed write's row as an event; a written one's as `written`. */
  private missed<E extends 'call_marked' | 'flagged' | 'released'>(on: E, r: CasResult): RefreshEvent {
    this.latest = r.row;
    if (!r.written) this.seen = r.row;
    return { on, written: r.written, now: r.written ? undefined : this.rowNow(r.row) } as RefreshEvent;
  }

  private row(now: Connection | undefined): RefreshEvent {
    this.seen = now;
    this.latest = now;
    this.deadline ??= Date.now() + this.d.leaseMs;
    return { on: 'row', now: this.rowNow(now), timeLeft: Date.now() <= this.deadline };
  }

  private rowNow(r: Connection | undefined): RowNow | undefined {
    if (!r) return undefined;
    const presented = this.c.refreshTokenCt;
    return { status: r.status, moved: r.version !== this.c.version, holdsPresented: !!presented && !!r.refreshTokenCt?.equals(presented) };
  }

  private report(outcome: RefreshOutcome, errorClass: string | null, timed = true): void {
    reportRefresh(() => ({
      source: this.d.source,
      provider: this.provider?.entry.id ?? 'unknown',
      trigger: this.trigger,
      outcome,
      errorClass,
      seconds: timed ? (performance.now() - this.started) / 1000 : 0,
    }));
  }

  private async record(
    outcome: 'allowed' | 'denied' | 'error',
    reason: string | undefined,
    details: Record<string, unknown>,
  ): Promise<void> {
    const c = this.c;
    await this.d.audit.record({
      tenant: c.tenant,
      action: 'connection.refresh',
      outcome,
      reason,
      subject: c.subject || undefined,
      integration: c.integration,
      details: { connection: c.id, version: c.version, ...details },
    });
  }

  private event(type: ConnectionEventType, data: Record<string, unknown>): ConnectionEvent {
    const c = this.c;
    return { tenant: c.tenant, type, data: { connection_id: c.id, integration: c.integration, user: c.subject || null, ...data } };
  }
}

export function needsReauth(): DomainError {
  return new DomainError('needs_reauth', 'the connection must be re-authorized by the user');
}

export function unavailable(retryAfter: number): DomainError {
  return new DomainError('unavailable', 'The provider is unavailable; nothing was released. Try again later.', { retryAfter });
}
