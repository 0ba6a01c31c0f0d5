import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { VerifiedToken } from '../auth';
import { PgNotifications } from '../db';
import { DomainError } from '../kernel';
import { RevocationEntry, TokenRevocationStore } from './token-revocation.store';

/** Fired (migration 2200) by every write to token_revocations and token_cutoffs, with the row as JSON ('*': reload). */
export const REVOCATION_CHANNEL = 'vault_tokens_revoked';
/** While the channel is LISTENed: a full reload this often anyway (a safety net, like policy snapshots). */
const RESYNC_LIVE_MS = 30_000;
/** While it is down: reload this often, so a revocation still reaches this process within a second. */
const RESYNC_DOWN_MS = 500;
/** Expired single-token revocations are deleted this often (and soon after start), by every process: a delete of nothing is cheap. */
const PRUNE_EVERY_MS = 3_600_000;

export type { CutoffKind } from './token-revocation.store';
type Change = RevocationEntry;
/** By tenant, then name (a jti, or a cutoff's agent or user): looked up on every release without building a key string. */
type ByTenant = Map<string, Map<string, number>>;

/**
 * Which tokens are revoked, in memory, for the release path (no query per release): single
 * tokens by `jti` (until they expire) and cutoffs "every token of this agent / user issued up to
 * this second". Fed by LISTEN/NOTIFY (`vault_tokens_revoked`, the row in the payload) and a
 * periodic full reload; while the process's LISTEN connection (PgNotifications) is down the
 * reload runs every 500 ms, and it runs at once when the connection is back. A revocation
 * written by this process applies here at once.
 */
@Injectable()
export class TokenRevocations implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('TokenRevocations');
  private jtis: ByTenant = new Map();
  private subjectCutoffs: ByTenant = new Map();
  private agentCutoffs: ByTenant = new Map();
  private timer?: NodeJS.Timeout;
  private lastSync = 0;
  private lastPrune = 0;
  /** Set when a reload is due now (a '*', an outage): a reload already running may have read before it, so it does not clear it. */
  private stale = false;
  /** The reload in flight: shutdown waits for it, so it cannot hold a pool client past the pool's end. */
  private running?: Promise<void>;
  /** Changes heard while a reload was running: applied again over its result. */
  private heard?: Change[];
  private closed = false;
  private warned = false;

  private readonly store: TokenRevocationStore;

  constructor(
    ds: DataSource,
    private readonly notifications: PgNotifications,
  ) {
    this.store = new TokenRevocationStore(ds);
  }

  /** Loaded before the API listens: a process never serves with an empty list. */
  async onModuleInit(): Promise<void> {
    this.notifications.subscribe(REVOCATION_CHANNEL, {
      onNotification: (payload) => this.onNotification(payload),
      // Whatever was revoked while nobody listened: reload now (after start-up; see tick).
      onReconnected: () => this.reloadSoon(),
      onLost: () => this.reloadSoon(),
    });
    // Listening before the first load, so nothing revoked in between is missed (PgNotifications warns when it cannot).
    await this.notifications.ready(REVOCATION_CHANNEL);
    await this.resync();
    this.timer = setInterval(() => this.tick(), RESYNC_DOWN_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Throws `invalid_token` (`reason: revoked`) for a revoked token. Runs on every verified token. */
  check(token: VerifiedToken): void {
    const t = token.tenant;
    if (token.jti !== undefined && this.jtis.get(t)?.has(token.jti)) throw revoked();
    const subjects = this.subjectCutoffs.get(t);
    const agents = this.agentCutoffs.get(t);
    if (subjects === undefined && agents === undefined) return;
    const iat = typeof token.claims.iat === 'number' ? token.claims.iat : Infinity;
    const subject = subjects?.get(token.subject);
    // No iat: when it was issued is unknown, so a cutoff applies (fail closed).
    if (subject !== undefined && (iat <= subject || iat === Infinity)) throw revoked();
    const agent = token.agent ?? (typeof token.claims.client_id === 'string' ? token.claims.client_id : undefined);
    const cut = agent === undefined ? undefined : agents?.get(agent);
    if (cut !== undefined && (iat <= cut || iat === Infinity)) throw revoked();
  }

  /** After a write through this process: effective here now, elsewhere on the notification. */
  applied(change: Change): void {
    this.apply(change);
  }

  private apply(c: Change): void {
    this.heard?.push(c);
    if (c.k === 'jti') put(this.jtis, c.t, c.n, c.at);
    else {
      const cutoffs = this.cutoffsOf(c.k);
      if (cutoffs) put(cutoffs, c.t, c.n, Math.max(c.at, cutoffs.get(c.t)?.get(c.n) ?? 0));
    }
  }

  /** A kind that is neither is not checked (as before: no token's key could name it). */
  private cutoffsOf(kind: string): ByTenant | undefined {
    return kind === 'subject' ? this.subjectCutoffs : kind === 'agent' ? this.agentCutoffs : undefined;
  }

  private reloadSoon(): void {
    this.lastSync = 0;
    this.stale = true;
    this.tick();
  }

  /** Not before onModuleInit's first load (no timer yet): two loads at once would share `heard`. */
  private tick(): void {
    if (this.closed || this.running || !this.timer) return;
    this.running = this.reload().finally(() => {
      this.running = undefined;
      if (this.stale) this.tick();
    });
  }

  /** Catches its own errors: the timer fires it without awaiting. */
  private async reload(): Promise<void> {
    try {
      const every = this.notifications.live(REVOCATION_CHANNEL) ? RESYNC_LIVE_MS : RESYNC_DOWN_MS;
      if (Date.now() - this.lastSync >= every) await this.resync();
      if (Date.now() - this.lastPrune >= PRUNE_EVERY_MS) {
        this.lastPrune = Date.now(); // tried once an hour, failed or not (the next reload's warning says enough)
        await this.store.pruneExpired();
      }
    } catch (err) {
      if (!this.warned) this.log.warn(`reloading revoked tokens failed (${err instanceof Error ? err.name : 'error'}); retrying`);
      this.warned = true;
    }
  }

  private async resync(): Promise<void> {
    this.heard = [];
    this.stale = false;
    try {
      const rows = await this.store.all();
      const jtis: ByTenant = new Map();
      const subjects: ByTenant = new Map();
      const agents: ByTenant = new Map();
      for (const r of rows) {
        if (r.k === 'jti') put(jtis, r.t, r.n, r.at);
        else if (r.k === 'subject') put(subjects, r.t, r.n, r.at);
        else if (r.k === 'agent') put(agents, r.t, r.n, r.at);
      }
      const heard = this.heard;
      [this.jtis, this.subjectCutoffs, this.agentCutoffs] = [jtis, subjects, agents];
      this.heard = undefined;
      for (const c of heard) this.apply(c);
      this.lastSync = this.stale ? 0 : Date.now();
      this.warned = false;
    } finally {
      this.heard = undefined;
    }
  }

  private onNotification(payload: string | undefined): void {
    if (!payload || payload === '*') {
      this.reloadSoon();
      return;
    }
    try {
      const c = JSON.parse(payload) as Change;
      if (c.at !== null) this.apply({ ...c, at: Number(c.at) });
    } catch {
      this.reloadSoon();
    }
  }
}

function put(map: ByTenant, tenant: string, name: string, at: number): void {
  let names = map.get(tenant);
  if (!names) map.set(tenant, (names = new Map()));
  names.set(name, at);
}

function revoked(): DomainError {
  return new DomainError('invalid_token', 'token has been revoked', { extra: { reason: 'revoked' } });
}
