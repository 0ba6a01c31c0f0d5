import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Queryable } from '../connections';
import { TenantId } from '../kernel';
import { AUDIT_ANCHOR_EVENT, TEST_EVENT } from './webhook-events';

/** A `webhook_outbox` row as a claim returns it: the one row type of the table the queue reads. */
interface OutboxRow {
  id: string;
  tenant: string;
  event_type: string;
  payload: Record<string, unknown>;
  created_at: Date;
  attempts: number;
}

/** One claimed outbox row. `attempts` already counts the attempt about to be made. */
export interface ClaimedEvent {
  id: string;
  tenant: TenantId;
  type: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  attempts: number;
}

/**
 * The outbox insert. It only inserts when the tenant has an enabled endpoint that wants the event
 * type (the test event always passes the filter): most tenants have no endpoint, and the refresher
 * emits events for every connection, so rows no one will receive are never written. The check is a
 * primary-key lookup in the same statement, so the cost stays one round trip. An endpoint created
 * later does not receive earlier events; one removed after the insert is noticed by the dispatcher.
 *
 * Parameters: $1 id (uuid), $2 tenant, $3 event type, $4 payload (jsonb text).
 */
const OUTBOX_INSERT_SQL = `INSERT INTO webhook_outbox (id, tenant, event_type, payload, created_at)
  SELECT $1::uuid, $2::text, $3::text, $4::jsonb, statement_timestamp()
   WHERE EXISTS (SELECT 1 FROM webhook_endpoints e
                  WHERE e.tenant = $2::text AND e.enabled AND ($3::text = ANY (e.events) OR '*' = ANY (e.events)
                    OR $3::text = '${TEST_EVENT}'))
  RETURNING id`;

/** One row per enabled endpoint that names the vault-wide event itself ($1 payload). */
const OPERATOR_OUTBOX_INSERT_SQL = `INSERT INTO webhook_outbox (id, tenant, event_type, payload, created_at)
  SELECT gen_random_uuid(), e.tenant, '${AUDIT_ANCHOR_EVENT}', $1::jsonb, statement_timestamp()
    FROM webhook_endpoints e WHERE e.enabled AND '${AUDIT_ANCHOR_EVENT}' = ANY (e.events)
  RETURNING id`;

/**
 * Writes one event through the caller's query runner (its transaction), if an endpoint of the tenant wants it.
 * Answers whether a row was written.
 */
export async function insertOutboxEvent(db: Queryable, id: string, tenant: string, type: string, payload: unknown): Promise<boolean> {
  return rowCount(await db.query(OUTBOX_INSERT_SQL, [id, tenant, type, JSON.stringify(payload)])) > 0;
}

/** Writes the audit-anchor event once per enabled endpoint that subscribed to it; answers how many. */
export async function insertAuditAnchorEvents(db: Queryable, payload: Record<string, string>): Promise<number> {
  return rowCount(await db.query(OPERATOR_OUTBOX_INSERT_SQL, [JSON.stringify(payload)]));
}

/** TypeORM returns the RETURNING rows; a bare pg client returns `{ rows }`. */
function rowCount(result: unknown): number {
  if (Array.isArray(result)) return result.length;
  const rows = (result as { rows?: unknown[] } | null)?.rows;
  return Array.isArray(rows) ? rows.length : 0;
}

/**
 * SQL of `webhook_outbox`: the inserts above, and the outbox as a work queue. A claim is one short statement (`FOR UPDATE SKIP LOCKED`, so dispatchers
 * never wait on each other) that leases the rows and pushes `next_attempt_at` to the lease's end: no
 * transaction stays open across the HTTP call, and a row whose dispatcher died is due again when its
 * lease runs out. Outcomes are written only by the lease holder (compare-and-set on `lease_owner`), which
 * stays named after the outcome (who made the last attempt) until the next claim.
 */
@Injectable()
export class WebhookOutboxStore {
  constructor(private readonly ds: DataSource) {}

  async claim(owner: string, limit: number, leaseMs: number): Promise<ClaimedEvent[]> {
    // An UPDATE through TypeORM resolves with [rows, count].
    const [rows]: [OutboxRow[]] = await this.ds.query(
      `WITH due AS (
         SELECT id FROM webhook_outbox WHERE status = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at, created_at LIMIT $2 FOR UPDATE SKIP LOCKED
       )
       UPDATE webhook_outbox o SET lease_owner = $1, lease_expires_at = now() + $3 * interval '1 millisecond',
              next_attempt_at = now() + $3 * interval '1 millisecond', attempts = o.attempts + 1
         FROM due WHERE o.id = due.id
       RETURNING o.id, o.tenant, o.event_type, o.payload, o.created_at, o.attempts`,
      [owner, limit, leaseMs],
    );
    return rows.map(toClaimedEvent).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  async delivered(id: string, owner: string): Promise<boolean> {
    return this.finish(id, owner, `status = 'delivered', finished_at = now(), last_error = NULL`, []);
  }

  /**
   * A failed attempt: due again `delayMs` after its outcome (`last_attempt_at`), or `dead` once `maxAttempts`
   * are used up. Resolves with the new status.
   */
  async failed(id: string, owner: string, errorClass: string, delayMs: number, maxAttempts: number): Promise<'pending' | 'dead' | 'lost'> {
    const [rows]: [Array<{ status: 'pending' | 'dead' }>] = await this.ds.query(
      `UPDATE webhook_outbox SET lease_expires_at = NULL, last_error = $3, last_attempt_at = now(),
              status = CASE WHEN attempts >= $5 THEN 'dead' ELSE 'pending' END,
              finished_at = CASE WHEN attempts >= $5 THEN now() END,
              next_attempt_at = now() + $4 * interval '1 millisecond'
        WHERE id = $1 AND lease_owner = $2 AND status = 'pending'
        RETURNING status`,
      [id, owner, errorClass, delayMs, maxAttempts],
    );
    return rows[0]?.status ?? 'lost';
  }

  /** Drops an event no endpoint wants any more (removed, disabled, or no longer subscribed). */
  async dropped(id: string, owner: string, reason: string): Promise<boolean> {
    return this.finish(id, owner, `status = 'dead', finished_at = now(), last_error = $3`, [reason]);
  }

  /**
   * Seconds the oldest due, unleased pending event has waited since it became due (0 when none is):
   * the outbox's lag. A leased event is not due (its claim moved `next_attempt_at` to the lease's end).
   */
  async lagSeconds(): Promise<number> {
    const [r] = await this.ds.query(
      `SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at)), 0)::float8 AS lag FROM webhook_outbox
        WHERE status = 'pending' AND next_attempt_at <= now()`,
    );
    return Math.max(0, Number(r.lag));
  }

  /** Deletes finished events past their retention, a bounded batch at a time. */
  async purge(deliveredBefore: Date, deadBefore: Date, limit = 1000): Promise<number> {
    const [, count] = await this.ds.query(
      `DELETE FROM webhook_outbox WHERE id IN (
         SELECT id FROM webhook_outbox
          WHERE status <> 'pending' AND finished_at < GREATEST($1::timestamptz, $2::timestamptz)
            AND ((status = 'delivered' AND finished_at < $1) OR (status = 'dead' AND finished_at < $2))
          LIMIT $3)`,
      [deliveredBefore, deadBefore, limit],
    );
    return Number(count);
  }

  private async finish(id: string, owner: string, set: string, extra: unknown[]): Promise<boolean> {
    const [, count] = await this.ds.query(
      `UPDATE webhook_outbox SET ${set}, lease_expires_at = NULL, last_attempt_at = now() WHERE id = $1 AND lease_owner ` +
        `= $2 AND status = 'pending'`,
      [id, owner, ...extra],
    );
    return Number(count) > 0;
  }
}

/** The one mapper of a `webhook_outbox` row. */
function toClaimedEvent(r: OutboxRow): ClaimedEvent {
  return { id: r.id, tenant: r.tenant as TenantId, type: r.event_type, payload: r.payload, createdAt: r.created_at, attempts: r.attempts };
}
