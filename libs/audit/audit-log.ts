import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { isDatabaseUnavailable } from '../db';
import { TenantId, UnavailableError } from '../kernel';
import { reportAuditFlush, secondsSince } from '../observability';
import { AUDIT_MAC_KEY, AuditEventInput, AuditListQuery, AuditLogStats, AuditMacKeySource, AuditPage, AuditReceipt } from './audit.types';
import { AuditChainWriter } from './audit-chain-writer';
import { PreparedEvent, prepareEvent } from './audit-event';
import { parseAuditQuery } from './audit-query';
import { AuditHourlyCount, countAuditEventsPerHour, listAuditEvents } from './audit-reader';
import { AuditAdminChange, AuditRefusalCount, AuditTenantScope, countAuditRefusals, listAuditAdminChanges } from './audit-security-reader';
import { assertMacKey } from './canonical';

/** One flush committing, one waiting for the head lock with the next batch. */
const FLUSHES_IN_FLIGHT = 2;

interface Waiter {
  event: PreparedEvent;
  settled: boolean;
  /** `performance.now()` past which the caller is refused (record time + timeoutMs). */
  deadline: number;
  resolve(receipt: AuditReceipt): void;
  reject(err: Error): void;
}

/**
 * The audit log. `record` resolves only once the event is committed, and rejects with
 * `UnavailableError('audit')` when that does not happen within `config.audit.timeoutMs`:
 * the caller then releases nothing. Events are group-committed: one flusher writes up to
 * `batchMax` queued events per transaction while new ones queue for the next flush.
 *
 * @example
 *   await audit.record({ tenant, action: 'credential.release', outcome: 'allowed', agent, subject, integration });
 *   return token; // only now
 */
@Injectable()
export class AuditLog implements BeforeApplicationShutdown {
  private readonly logger = new Logger('AuditLog');
  private readonly writer: AuditChainWriter;
  private readonly timeoutMs: number;
  private readonly batchMax: number;
  private queue: Waiter[] = [];
  /** Flushes in flight (at most FLUSHES_IN_FLIGHT), and whether one is about to start. */
  private readonly flushing = new Set<Promise<void>>();
  private starting = false;
  /** Flushes that have not taken their batch yet: while one waits, new events will be its. */
  private awaitingLock = 0;
  private readonly counters = { flushes: 0, committedEvents: 0, failedFlushes: 0, timeouts: 0 };
  /**
   * Every waiter not yet seen settled, oldest first, from `byAgeHead`. All have the same timeout,
   * so deadlines ascend: one timer, armed for the oldest, expires them all (a timer per event
   * allocated a Timeout and a closure per release). Settled waiters are dropped from the front
   * after each flush, so only those in flight stay referenced.
   */
  private byAge: Array<Waiter | undefined> = [];
  private byAgeHead = 0;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'audit'>,
    @Inject(AUDIT_MAC_KEY) private readonly keys: AuditMacKeySource,
  ) {
    this.timeoutMs = config.audit.timeoutMs;
    this.batchMax = config.audit.batchMax;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1 || !Number.isInteger(this.batchMax) || this.batchMax < 1) {
      throw new TypeError('config.audit.timeoutMs and config.audit.batchMax must be positive integers');
    }
    this.writer = new AuditChainWriter(ds, this.timeoutMs);
  }

  /** Queues an event and resolves with its id and seq once it is durable. */
  record(input: AuditEventInput): Promise<AuditReceipt> {
    let event: PreparedEvent;
    try {
      event = prepareEvent(input);
    } catch (err) {
      return Promise.reject(err); // as an async function would: a rejection, never a throw
    }
    this.incoming = event;
    return new Promise<AuditReceipt>(this.enqueue);
  }

  /** The event `record` is queuing, for `enqueue`: the executor runs at once, inside `new Promise`. */
  private incoming: PreparedEvent | undefined;

  /** `record`'s promise executor, made once rather than a closure per event. */
  private readonly enqueue = (resolve: (receipt: AuditReceipt) => void, reject: (err: Error) => void): void => {
    const waiter: Waiter = { event: this.incoming!, settled: false, deadline: performance.now() + this.timeoutMs, resolve, reject };
    this.incoming = undefined;
    this.queue.push(waiter);
    this.byAge.push(waiter);
    if (this.expiryTimer === undefined) this.armExpiry();
    this.schedule();
  };

  /** One tenant's events, newest first. Throws `DomainError('validation_failed')` on a bad filter. */
  async list(tenant: TenantId, query: AuditListQuery | Record<string, unknown>): Promise<AuditPage> {
    return listAuditEvents(this.ds, tenant, parseAuditQuery(query));
  }

  /** One tenant's events per hour since `start`, for `actions` (each with the outcomes to count; empty: every outcome). */
  async countPerHour(tenant: TenantId, start: Date, actions: Record<string, readonly string[]>): Promise<AuditHourlyCount[]> {
    return countAuditEventsPerHour(this.ds, tenant, start, actions);
  }

  /** Refused tokens and token exchanges since `start`, grouped; `scope` null: every tenant and the unattributed (operators only). */
  async countRefusals(scope: AuditTenantScope, start: Date, tokenEndpointActions: readonly string[]): Promise<AuditRefusalCount[]> {
    return countAuditRefusals(this.ds, scope, start, tokenEndpointActions);
  }

  /** The latest admin changes (`actions`, allowed), newest first; `scope` null: every tenant. */
  async adminChanges(scope: AuditTenantScope, actions: readonly string[], limit: number): Promise<AuditAdminChange[]> {
    return listAuditAdminChanges(this.ds, scope, actions, limit);
  }

  stats(): AuditLogStats {
    return { ...this.counters, queued: this.pending() };
  }

  /** Flushes everything queued. Called on shutdown, before the pool closes. */
  async drain(): Promise<void> {
    while (this.starting || this.flushing.size > 0 || this.pending() > 0) {
      this.schedule();
      await (this.flushing.size > 0 ? Promise.race(this.flushing) : new Promise<void>((r) => setImmediate(r)));
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
  }

  /**
   * Starts a flush unless one is about to start or FLUSHES_IN_FLIGHT are running. A second flush
   * runs while the first commits: it waits for the chain head's row lock in Postgres and takes
   * its batch only once it holds it, so the commit's round trip and fsync are not dead time.
   */
  private schedule(): void {
    if (this.starting || this.awaitingLock > 0 || this.flushing.size >= FLUSHES_IN_FLIGHT) return;
    this.starting = true;
    // setImmediate lets events recorded in the same turn of the event loop share one flush.
    setImmediate(() => {
      this.starting = false;
      if (this.pending() === 0 || this.awaitingLock > 0 || this.flushing.size >= FLUSHES_IN_FLIGHT) return;
      this.awaitingLock++;
      let took = false;
      const markTaken = () => {
        if (!took) this.awaitingLock--;
        took = true;
      };
      const flush: Promise<void> = this.flushOnce(markTaken).finally(() => {
        markTaken();
        this.flushing.delete(flush);
        if (this.pending() > 0) this.schedule();
      });
      this.flushing.add(flush);
    });
  }

  /** One transaction. Never throws: its waiters are resolved or rejected. */
  private async flushOnce(onTake: () => void): Promise<void> {
    const abort = new AbortController();
    // A flush on a dead socket may never return; past this it is abandoned (its connection destroyed).
    const watchdog = setTimeout(() => abort.abort(), this.timeoutMs * 2);
    const started = performance.now();
    let batch: Waiter[] | undefined;
    const take = (): PreparedEvent[] => {
      onTake();
      batch = this.takeBatch();
      // More queued than one batch holds: the next flush can queue for the lock now.
      if (this.pending() > 0) this.schedule();
      return batch.map((w) => w.event);
    };
    try {
      const key = await untilAborted(this.keys.macKey(), abort.signal);
      assertMacKey(key);
      const receipts = await untilAborted(this.writer.append(key, take, abort.signal), abort.signal);
      if (batch && batch.length > 0) {
        this.counters.flushes += 1;
        this.counters.committedEvents += batch.length;
        for (let i = 0; i < batch.length; i++) if (this.settle(batch[i])) batch[i].resolve(receipts[i]);
        const events = batch.length;
        reportAuditFlush(() => ({ source: this, outcome: 'committed', events, seconds: secondsSince(started) }));
      }
    } catch (err) {
      // Nothing before `take` ran means nothing was written: fail what is queued now rather than spin.
      const failed = batch ?? this.takeBatch();
      this.counters.failedFlushes += 1;
      reportAuditFlush(() => ({ source: this, outcome: 'failed', events: failed.length, seconds: secondsSince(started) }));
      this.logger.error(`audit flush failed (${failureCode(err, abort.signal)}); ${failed.length} event(s) not recorded`);
      for (const w of failed) if (this.settle(w)) w.reject(new UnavailableError('audit'));
    } finally {
      clearTimeout(watchdog);
      this.armExpiry();
    }
  }

  private takeBatch(): Waiter[] {
    const batch: Waiter[] = [];
    while (batch.length < this.batchMax && this.queue.length > 0) {
      for (const w of this.queue.splice(0, this.batchMax - batch.length)) if (!w.settled) batch.push(w);
    }
    return batch;
  }

  private pending(): number {
    if (this.queue.some((w) => w.settled)) this.queue = this.queue.filter((w) => !w.settled);
    return this.queue.length;
  }

  /** Drops settled waiters from the front; arms the timer for the oldest one left, or disarms it. */
  private armExpiry(): void {
    while (this.byAgeHead < this.byAge.length && this.byAge[this.byAgeHead]!.settled) this.byAge[this.byAgeHead++] = undefined;
    if (this.byAgeHead === this.byAge.length) {
      this.byAge = [];
      this.byAgeHead = 0;
      if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
      this.expiryTimer = undefined;
      return;
    }
    if (this.byAgeHead > 1024) {
      this.byAge = this.byAge.slice(this.byAgeHead);
      this.byAgeHead = 0;
    }
    if (this.expiryTimer !== undefined) return; // it fires no later than the oldest's deadline, then re-arms
    const wait = Math.max(0, this.byAge[this.byAgeHead]!.deadline - performance.now());
    this.expiryTimer = setTimeout(this.onExpiry, Math.ceil(wait));
  }

  private readonly onExpiry = (): void => {
    this.expiryTimer = undefined;
    const now = performance.now();
    while (this.byAgeHead < this.byAge.length) {
      const w = this.byAge[this.byAgeHead]!;
      if (!w.settled && w.deadline > now) break;
      this.byAge[this.byAgeHead++] = undefined;
      this.expire(w);
    }
    this.armExpiry();
  };

  private expire(w: Waiter): void {
    if (w.settled) return;
    this.counters.timeouts += 1;
    if (this.settle(w)) w.reject(new UnavailableError('audit'));
  }

  /** Marks a waiter settled; false if it already was (the caller then neither resolves nor rejects it). */
  private settle(w: Waiter): boolean {
    if (w.settled) return false;
    w.settled = true;
    return true;
  }
}

/** Resolves or rejects with `p`, or rejects once `signal` aborts (leaving `p` to settle unobserved). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  p.catch(() => undefined);
  if (signal.aborted) return Promise.reject(new Error('audit flush abandoned'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('audit flush abandoned'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A code safe to log: a SQLSTATE or errno, never a message (those can quote parameters). */
function failureCode(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'watchdog';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,32}$/.test(code)) return code;
  if (isDatabaseUnavailable(err)) return 'database_unavailable';
  return err instanceof Error ? err.name.replace(/[^A-Za-z]/g, '').slice(0, 40) : 'unknown';
}
