import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog } from '../audit';
import { isDatabaseUnavailable } from '../db';
import { DomainError, UnavailableError } from '../kernel';
import { KeyJob, KeyJobFailure, KeyJobKind, KeyJobParams, SYSTEM_TENANT } from './key-job';
import { KeyJobStore } from './key-job.store';

/** What a handler gets besides its job: cancellation, progress, and checkpoints of its resumable state. */
export interface KeyJobContext {
  /** Aborted when the lease is lost or the process stops: stop at the next safe point. */
  readonly signal: AbortSignal;
  /** Progress in the job's unit (keys or records); written to Postgres with the next lease renewal. */
  progress(done: number, total?: number): void;
  /** Persists resumable state into the job's params (throws if the lease is no longer ours). */
  checkpoint(patch: KeyJobParams): Promise<void>;
}

export interface KeyJobOutcome {
  done: number;
  total: number;
  /** Identifiers for the audit record (never key material). */
  details?: Record<string, unknown>;
}

/** Runs one kind of job. Must be idempotent: a job may run again from its last checkpoint after a crash. */
export interface KeyJobHandler {
  readonly kind: KeyJobKind;
  run(job: KeyJob, ctx: KeyJobContext): Promise<KeyJobOutcome>;
}

export interface KeyJobRunnerOptions {
  leaseMs: number;
  /** Idle wait between looks for runnable jobs. */
  pollMs?: number;
}

class LeaseLost extends Error {
  constructor() {
    super('the job lease was lost');
    this.name = 'LeaseLost';
  }
}

const MAX_RETRY_DELAY_MS = 5 * 60_000;

/**
 * Leases key jobs from Postgres and runs them: one job at a time per runner, the lease renewed
 * (with progress) while it runs, so any number of workers can run side by side and a killed
 * worker's job is resumed by another once its lease expires. Transient failures (key provider
 * or database unavailable) give the job back with a backoff; it is never failed for them.
 * The outcome of every job is audited (`key.rotate`) before the job is marked finished.
 */
export class KeyJobRunner {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly log = new Logger('KeyJobRunner');
  private readonly handlers: Map<KeyJobKind, KeyJobHandler>;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;

  constructor(
    private readonly store: KeyJobStore,
    handlers: KeyJobHandler[],
    private readonly audit: AuditLog,
    private readonly opts: KeyJobRunnerOptions,
  ) {
    this.handlers = new Map(handlers.map((h) => [h.kind, h]));
  }

  /** Starts polling for jobs in the background. */
  start(): void {
    this.loop ??= this.poll();
  }

  /** Stops after giving the current job back (its lease released, so another worker resumes it at once). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** Leases and runs one runnable job (or only `jobId`); undefined when there was none. */
  async runOnce(jobId?: string): Promise<KeyJob | undefined> {
    const job = await this.store.claim(this.owner, this.opts.leaseMs, jobId);
    return job && this.execute(job);
  }

  private async poll(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      let ran: KeyJob | undefined;
      try {
        ran = await this.runOnce();
      } catch (err) {
        this.log.warn(`key job poll failed (${errorClass(err)})`);
      }
      if (!ran) await sleep(this.opts.pollMs ?? 1000, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  private async execute(job: KeyJob): Promise<KeyJob | undefined> {
    const handler = this.handlers.get(job.kind);
    if (!handler) {
      await this.store.release(job.id, this.owner, 'no_handler', 60_000);
      return undefined;
    }
    const abort = new AbortController();
    const onStop = () => abort.abort();
    this.stopping.signal.addEventListener('abort', onStop);
    const progress: { done?: number; total?: number } = {};
    const renew = setInterval(
      () => {
        this.store.heartbeat(job.id, this.owner, this.opts.leaseMs, progress).then(
          (ours) => ours || abort.abort(new LeaseLost()),
          () => undefined, // database blip: the next renewal tries again; the lease outlasts a few misses
        );
      },
      Math.min(1000, this.opts.leaseMs / 3),
    );
    const ctx: KeyJobContext = {
      signal: abort.signal,
      progress: (done, total) => {
        progress.done = done;
        if (total !== undefined) progress.total = total;
      },
      checkpoint: async (patch) => {
        if (!(await this.store.checkpoint(job.id, this.owner, patch))) {
          abort.abort(new LeaseLost());
          throw new LeaseLost();
        }
        Object.assign(job.params, patch);
      },
    };
    const auditTenant = job.tenant ?? job.params.audit_tenant ?? SYSTEM_TENANT;
    const target = job.kind === 'kek_rotate' ? 'kek' : job.kind === 'aad_reseal' ? 'aad' : 'tenant';
    try {
      const outcome = await handler.run(job, ctx);
      await this.audit.record({
        tenant: auditTenant,
        action: 'key.rotate',
        outcome: 'allowed',
        details: { target, job: job.id, phase: 'completed', done: outcome.done, ...outcome.details },
      });
      const ended = await this.store.finish(job.id, this.owner, { status: 'succeeded', done: outcome.done, total: outcome.total });
      if (ended?.params.again) {
        await this.store.enqueue({
          kind: job.kind,
          tenant: job.tenant,
          requestedBy: job.requestedBy,
          params: pick(job.params, ['audit_tenant', 'create_version', 'rotate']),
        });
      }
      return ended;
    } catch (err) {
      if (abort.signal.aborted) {
        // Lost the lease (another worker has it) or stopping: leave the job to whoever runs it next.
        if (this.stopping.signal.aborted) await this.store.release(job.id, this.owner, null, 0).catch(() => undefined);
        return undefined;
      }
      if (isTransient(err)) {
        const delay = Math.min(MAX_RETRY_DELAY_MS, 1000 * 2 ** Math.min(job.attempts, 10));
        this.log.warn(`key job ${job.id} (${job.kind}) paused: ${errorClass(err)}; retry in ${Math.round(delay / 1000)} s`);
        await this.store.release(job.id, this.owner, errorClass(err), delay).catch(() => undefined);
        return undefined;
      }
      const cls = errorClass(err);
      this.log.error(`key job ${job.id} (${job.kind}) failed: ${cls}`);
      await this.audit
        .record({
          tenant: auditTenant,
          action: 'key.rotate',
          outcome: 'error',
          reason: cls,
          details: { target, job: job.id, phase: 'failed' },
        })
        .catch(() => this.log.error(`key job ${job.id}: the failure could not be audited`));
      return this.store.finish(job.id, this.owner, { status: 'failed', errorClass: cls, done: progress.done, total: progress.total });
    } finally {
      clearInterval(renew);
      this.stopping.signal.removeEventListener('abort', onStop);
    }
  }
}

/** Worth another attempt later: a dependency was down, or a concurrent writer won a race (`conflict`). */
function isTransient(err: unknown): boolean {
  return err instanceof UnavailableError || isDatabaseUnavailable(err) || (err instanceof DomainError && err.code === 'conflict');
}

/** A class name or code safe to store and log: never a message (messages can carry data). */
function errorClass(err: unknown): string {
  if (err instanceof KeyJobFailure) return err.errorClass;
  if (err instanceof UnavailableError) return err.name === 'KeyProviderUnavailableError' ? 'key_provider_unavailable' : 'unavailable';
  if (isDatabaseUnavailable(err)) return 'database_unavailable';
  const e = err as { code?: unknown; name?: unknown } | null;
  if (typeof e?.code === 'string' && /^[A-Za-z0-9_]{2,40}$/.test(e.code)) return e.code;
  return typeof e?.name === 'string' ? e.name.replace(/[^A-Za-z0-9_]/g, '').slice(0, 40) || 'Error' : 'Error';
}

function pick(params: KeyJobParams, keys: string[]): KeyJobParams {
  return Object.fromEntries(keys.filter((k) => params[k] !== undefined).map((k) => [k, params[k]]));
}
