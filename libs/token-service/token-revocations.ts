import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { VerifiedToken } from '../auth';
import { DomainError } from '../kernel';
import { RevocationEntry, TokenRevocationStore } from './token-revocation.store';

/** Fired (migration 2200) by every write to token_revocations and token_cutoffs, with the row as JSON ('*': reload). */
export const REVOCATION_CHANNEL = 'vault_tokens_revoked';
/** While the LISTEN connection is up: a full reload this often anyway (a safety net, like policy snapshots). */
const RESYNC_LIVE_MS = 30_000;
/** While it is down: reload this often, so a revocation still reaches this process within a second. */
const RESYNC_DOWN_MS = 500;

export type { CutoffKind } from './token-revocation.store';
type Change = RevocationEntry;
/** By tenant, then name (a jti, or a cutoff's agent or user): looked up on every release without building a key string. */
type ByTenant = Map<string, Map<string, number>>;

/**
 * Which tokens are revoked, in memory, for the release path (no query per release): single
 * tokens by `jti` (until they expire) and cutoffs "every token of this agent / user issued up to
 * this second". Fed by LISTEN/NOTIFY (`vault_tokens_revoked`, the row in the payload) and a
 * periodic full reload; while the LISTEN connection is down the reload runs every 500 ms. A
 * revocation written by this process applies here at once.
 */
@Injectable()
export class TokenRevocations implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('TokenRevocations');
  private jtis: ByTenant = new Map();
  private subjectCutoffs: ByTenant = new Map();
  private agentCutoffs: ByTenant = new Map();
  private client?: PoolClient;
  private release?: (err?: Error) => void;
  private timer?: NodeJS.Timeout;
  private lastSync = 0;
  /** The tick in flight (a reconnect or reload): shutdown waits for it, so it cannot hold a pool client past the pool's end. */
  private running?: Promise<void>;
  /** Changes heard while a reload was running: applied again over its result. */
  private heard?: Change[];
  private closed = false;
  private warned = false;

  private readonly store: TokenRevocationStore;

  /** The DataSource also gives the LISTEN connection, so the store is built here rather than injected. */
  constructor(private readonly ds: DataSource) {
    this.store = new TokenRevocationStore(ds);
  }

  /** Loaded before the API listens: a process never serves with an empty list. */
  async onModuleInit(): Promise<void> {
    await this.connect();
    if (!this.lastSync) await this.resync();
    this.timer = setInterval(() => this.tick(), RESYNC_DOWN_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
    this.drop();
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

  private tick(): void {
    if (this.closed || this.running) return;
    this.running = this.reload().finally(() => (this.running = undefined));
  }

  /** Catches its own errors: the timer fires it without awaiting. */
  private async reload(): Promise<void> {
    try {
      if (!this.client) await this.connect();
      const every = this.client ? RESYNC_LIVE_MS : RESYNC_DOWN_MS;
      if (Date.now() - this.lastSync >= every) await this.resync();
    } catch (err) {
      if (!this.warned) this.log.warn(`reloading revoked tokens failed (${err instanceof Error ? err.name : 'error'}); retrying`);
      this.warned = true;
    }
  }

  private async resync(): Promise<void> {
    this.heard = [];
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
      this.lastSync = Date.now();
      this.warned = false;
    } finally {
      this.heard = undefined;
    }
  }

  private onNotification(payload: string | undefined): void {
    if (!payload || payload === '*') {
      this.lastSync = 0; // reloaded on the next tick
      return;
    }
    try {
      const c = JSON.parse(payload) as Change;
      if (c.at !== null) this.apply({ ...c, at: Number(c.at) });
    } catch {
      this.lastSync = 0;
    }
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let client: PoolClient | undefined;
    let release: ((err?: Error) => void) | undefined;
    try {
      [client, release] = (await (this.ds.driver as PostgresDriver).obtainMasterConnection()) as [PoolClient, (err?: Error) => void];
      client.on('notification', (n) => n.channel === REVOCATION_CHANNEL && this.onNotification(n.payload));
      client.on('error', () => this.lost(client!));
      client.on('end', () => this.lost(client!));
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
      // Shut down meanwhile: a client kept now would never be released, and the pool's end() would wait for it forever.
      if (this.closed) throw new Error('closed');
      this.client = client;
      this.release = release;
      // Whatever was revoked while nobody listened: reload now.
      await this.resync();
    } catch (err) {
      if (client && client !== this.client) {
        client.removeAllListeners('notification');
        client.on('error', () => undefined);
        release?.(err instanceof Error ? err : new Error('listen failed'));
      }
      if (!this.closed && !this.warned)
        this.log.warn(`revocation feed unavailable (${err instanceof Error ? err.name : 'error'}); reloading every 500 ms`);
      this.warned = true;
    }
  }

  private lost(client: PoolClient): void {
    if (client !== this.client) return;
    this.drop(new Error('revocation feed connection lost'));
    this.lastSync = 0;
  }

  private drop(err?: Error): void {
    const { client, release } = this;
    this.client = undefined;
    this.release = undefined;
    if (!client || !release) return;
    client.removeAllListeners('notification');
    client.removeAllListeners('end');
    client.on('error', () => undefined);
    release(err ?? new Error('revocation feed closed'));
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
