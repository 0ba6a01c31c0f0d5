import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { TenantId } from '../kernel';

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
 * The outbox as a work queue. A claim is one short statement (`FOR UPDATE SKIP LOCKED`, so dispatchers
 * never wait on each other) that leases the rows and pushes `next_attempt_at` to the lease's end: no
 * transaction stays open across the HTTP call, and a row whose dispatcher died is due again when its
 * lease runs out. Outcomes are written only by the lease holder (compare-and-set on `lease_owner`), which
 * stays named after the outcome (who made the last attempt) until the next claim.
 */
@Injectable()
export class WebhookDeliveryQueue {
  constructor(private readonly ds: DataSource) {}

  async claim(owner: string, limit: number, leaseMs: number): Promise<ClaimedEvent[]> {
    // An UPDATE through TypeORM resolves with [rows, count].
    const [rows]: [
      Array<{ id: string; tenant: string; event_type: string; payload: Record<string, unknown>; created_at: Date; attempts: number }>,
    ] = await this.ds.query(
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
    return rows
      .map((r) => ({
        id: r.id,
        tenant: r.tenant as TenantId,
        type: r.event_type,
        payload: r.payload,
        createdAt: r.created_at,
        attempts: r.attempts,
      }))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
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
