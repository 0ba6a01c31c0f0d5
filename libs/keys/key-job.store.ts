import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { KeyJob, KeyJobKind, KeyJobParams, KeyJobStatus } from './key-job';

/** A `key_jobs` row (`RETURNING *` / `SELECT *`): the one row type of the table; bigints come back as text. */
interface KeyJobRow {
  id: string;
  kind: KeyJobKind;
  tenant: string | null;
  status: KeyJobStatus;
  params: KeyJobParams | null;
  total: string | number;
  done: string | number;
  attempts: number;
  requested_by: string;
  error_class: string | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  not_before: Date;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

/** An UPDATE … RETURNING through TypeORM: the rows and the count. */
type Returned<R> = [R[], number];

export interface EnqueueKeyJob {
  kind: KeyJobKind;
  tenant: string | null;
  params?: KeyJobParams;
  requestedBy: string;
}

/**
 * SQL of `key_jobs`. Leases are taken with `FOR UPDATE SKIP LOCKED` and every write of a
 * running job compares the lease owner, so a worker that lost its lease cannot report over
 * the one that took it over.
 */
@Injectable()
export class KeyJobStore {
  constructor(private readonly ds: DataSource) {}

  /**
   * Enqueues a job, or returns the open one of the same kind and tenant. With `againIfRunning`,
   * a running job is asked to run once more when it ends (its work may predate the request).
   */
  async enqueue(
    input: EnqueueKeyJob,
    opts: { againIfRunning?: boolean; within?: EntityManager } = {},
  ): Promise<{ job: KeyJob; created: boolean }> {
    const db = opts.within ?? this.ds;
    for (let attempt = 0; attempt < 5; attempt++) {
      const inserted: KeyJobRow[] = await db.query(
        `INSERT INTO key_jobs (id, kind, tenant, params, requested_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING RETURNING *`,
        [randomUUID(), input.kind, input.tenant, JSON.stringify(input.params ?? {}), input.requestedBy],
      );
      if (inserted.length) return { job: toJob(inserted[0]), created: true };
      const [open]: Array<KeyJobRow | undefined> = await db.query(
        `SELECT * FROM key_jobs WHERE kind = $1 AND COALESCE(tenant, '') = COALESCE($2, '') AND status IN ('pending', 'running')`,
        [input.kind, input.tenant],
      );
      if (!open) continue; // it finished between our insert and our read
      if (opts.againIfRunning && open.status === 'running') {
        await db.query(`UPDATE key_jobs SET params = params || '{"again": true}'::jsonb WHERE id = $1`, [open.id]);
      }
      return { job: toJob(open), created: false };
    }
    throw new Error('could not enqueue the key job');
  }

  /** Records an operation that completed at once (a signing-key rotation) as a finished job. */
  async recordCompleted(input: EnqueueKeyJob): Promise<KeyJob> {
    const rows: KeyJobRow[] = await this.ds.query(
      `INSERT INTO key_jobs (id, kind, tenant, params, requested_by, status, total, done, started_at, finished_at)
       VALUES ($1, $2, $3, $4, $5, 'succeeded', 1, 1, now(), now()) RETURNING *`,
      [randomUUID(), input.kind, input.tenant, JSON.stringify(input.params ?? {}), input.requestedBy],
    );
    return toJob(rows[0]);
  }

  /** Leases the oldest runnable job (pending, or running with an expired lease), or `only` that one. */
  async claim(owner: string, leaseMs: number, only?: string): Promise<KeyJob | undefined> {
    const [rows]: Returned<KeyJobRow> = await this.ds.query(
      `UPDATE key_jobs SET status = 'running', lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2),
              attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now()
        WHERE id = (SELECT id FROM key_jobs
                     WHERE status IN ('pending', 'running') AND not_before <= now()
                       AND (lease_expires_at IS NULL OR lease_expires_at < now()) AND ($3::uuid IS NULL OR id = $3)
                     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [owner, leaseMs / 1000, only ?? null],
    );
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  /** Extends the lease and records progress; false when the lease is no longer ours. */
  async heartbeat(id: string, owner: string, leaseMs: number, progress: { done?: number; total?: number } = {}): Promise<boolean> {
    const [rows]: Returned<Pick<KeyJobRow, 'id'>> = await this.ds.query(
      `UPDATE key_jobs
        SET lease_expires_at = now() + make_interval(secs => $3), done = COALESCE($4, done), total = COALESCE($5, total), updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING id`,
      [id, owner, leaseMs / 1000, progress.done ?? null, progress.total ?? null],
    );
    return rows.length > 0;
  }

  /** Merges into the job's params (its resumable state); false when the lease is no longer ours. */
  async checkpoint(id: string, owner: string, patch: KeyJobParams): Promise<boolean> {
    const [rows]: Returned<Pick<KeyJobRow, 'id'>> = await this.ds.query(
      `UPDATE key_jobs SET params = params || $3::jsonb, updated_at = now() WHERE id = $1 AND lease_owner = $2 AND ` +
        `status = 'running' RETURNING id`,
      [id, owner, JSON.stringify(patch)],
    );
    return rows.length > 0;
  }

  /** Ends a job. Returns it as it ended, or undefined when the lease was no longer ours. */
  async finish(
    id: string,
    owner: string,
    outcome: { status: 'succeeded' | 'failed'; errorClass?: string; done?: number; total?: number },
  ): Promise<KeyJob | undefined> {
    const [rows]: Returned<KeyJobRow> = await this.ds.query(
      `UPDATE key_jobs SET status = $3, error_class = $4, done = COALESCE($5, done), total = COALESCE($6, total),
              finished_at = now(), updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING *`,
      [id, owner, outcome.status, outcome.errorClass ?? null, outcome.done ?? null, outcome.total ?? null],
    );
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  /** Gives a job back after a transient failure: another attempt no earlier than `delayMs` from now. */
  async release(id: string, owner: string, errorClass: string | null, delayMs: number): Promise<void> {
    await this.ds.query(
      `UPDATE key_jobs SET status = 'pending', error_class = $3, not_before = now() + make_interval(secs => $4),
              lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
      [id, owner, errorClass, delayMs / 1000],
    );
  }

  /** Ends open jobs of a tenant that no longer has anything to rotate (crypto-shredded). */
  async cancelForTenant(tenant: string, errorClass: string): Promise<void> {
    await this.ds.query(
      `UPDATE key_jobs
        SET status = 'failed', error_class = $2, finished_at = now(), updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
        WHERE tenant = $1 AND status IN ('pending', 'running')`,
      [tenant, errorClass],
    );
  }

  /** Whether a job of this kind and tenant failed within `withinMs` (the scheduler does not retry those on its own). */
  async failedRecently(kind: KeyJobKind, tenant: string | null, withinMs: number): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `SELECT 1 FROM key_jobs WHERE kind = $1 AND COALESCE(tenant, '') = COALESCE($2, '') AND status = 'failed'
          AND finished_at > now() - make_interval(secs => $3) LIMIT 1`,
      [kind, tenant, withinMs / 1000],
    );
    return rows.length > 0;
  }

  /** Tenants with an open job of this kind, or one that failed within `withinMs` (the scheduler leaves them alone). */
  async tenantsBusyOrFailed(kind: KeyJobKind, withinMs: number): Promise<string[]> {
    const rows: Array<{ tenant: string }> = await this.ds.query(
      `SELECT DISTINCT tenant FROM key_jobs WHERE kind = $1 AND tenant IS NOT NULL
          AND (status IN ('pending', 'running') OR (status = 'failed' AND finished_at > now() - make_interval(secs => $2)))`,
      [kind, withinMs / 1000],
    );
    return rows.map((r) => r.tenant);
  }

  async get(id: string): Promise<KeyJob | undefined> {
    const rows: KeyJobRow[] = await this.ds.query(`SELECT * FROM key_jobs WHERE id = $1`, [id]);
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  /** Open jobs and the most recent others, newest first; `tenant` limits to that tenant's and vault-wide jobs. */
  async recent(opts: { tenant?: string; limit: number }): Promise<KeyJob[]> {
    const rows: KeyJobRow[] = await this.ds.query(
      `SELECT * FROM key_jobs WHERE ($1::text IS NULL OR tenant = $1 OR tenant IS NULL)
        ORDER BY (status IN ('pending', 'running')) DESC, created_at DESC LIMIT $2`,
      [opts.tenant ?? null, opts.limit],
    );
    return rows.map(toJob);
  }
}

/** The one mapper of a `key_jobs` row. */
function toJob(r: KeyJobRow): KeyJob {
  return {
    id: r.id,
    kind: r.kind,
    tenant: r.tenant ?? null,
    status: r.status,
    params: r.params ?? {},
    total: Number(r.total),
    done: Number(r.done),
    attempts: Number(r.attempts),
    requestedBy: r.requested_by,
    errorClass: r.error_class ?? null,
    leaseOwner: r.lease_owner ?? null,
    leaseExpiresAt: r.lease_expires_at ?? null,
    createdAt: r.created_at,
    startedAt: r.started_at ?? null,
    finishedAt: r.finished_at ?? null,
    updatedAt: r.updated_at,
  };
}
