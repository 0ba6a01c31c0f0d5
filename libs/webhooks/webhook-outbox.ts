import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ConnectionEvents, Queryable } from '../connections';
import { AUDIT_ANCHOR_EVENT, checkEventData, isEventType, TEST_EVENT, WebhookEvent } from './webhook-events';

/**
 * The outbox insert. It only inserts when the tenant has an enabled endpoint that wants the event
 * type (the test event always passes the filter): most tenants have no endpoint, and the refresher
 * emits events for every connection, so rows no one will receive are never written. The check is a
 * primary-key lookup in the same statement, so the cost stays one round trip. An endpoint created
 * later does not receive earlier events; one removed after the insert is noticed by the dispatcher.
 *
 * Parameters: $1 id (uuid), $2 tenant, $3 event type, $4 payload (jsonb text). Callers writing their
 * state change as one statement can run this as a data-modifying CTE beside it.
 */
export const OUTBOX_INSERT_SQL = `INSERT INTO webhook_outbox (id, tenant, event_type, payload, created_at)
  SELECT $1::uuid, $2::text, $3::text, $4::jsonb, statement_timestamp()
   WHERE EXISTS (SELECT 1 FROM webhook_endpoints e
                  WHERE e.tenant = $2::text AND e.enabled AND ($3::text = ANY (e.events) OR '*' = ANY (e.events)
                    OR $3::text = '${TEST_EVENT}'))
  RETURNING id`;

export interface EnqueueResult {
  /** The event id, which is also the `webhook-id` the receiver sees (its idempotency key). */
  id: string;
  /** False when the tenant has no endpoint for this event type: nothing was written. */
  enqueued: boolean;
}

/**
 * The transactional outbox of connection events. `enqueue` writes through the caller's query runner:
 * pass the EntityManager of the transaction that changes the connection, and the event commits or
 * rolls back with that change (no event for a change that did not happen, no change without its
 * event). Delivery happens later, in the dispatcher, never inside the caller's transaction.
 *
 * @example
 *   await ds.transaction(async (m) => {
 *     await m.query(`UPDATE connections SET status = 'needs_reauth' WHERE ...`);
 *     await outbox.enqueue(m, { tenant, type: 'connection.needs_reauth', data: { connection_id, integration,
 * user, status: 'needs_reauth', error_class } });
 *   });
 */
@Injectable()
export class WebhookOutbox implements ConnectionEvents {
  async enqueue(db: Queryable, event: WebhookEvent): Promise<EnqueueResult> {
    if (!isEventType(event.type)) throw new TypeError('unknown webhook event type');
    const data = checkEventData(event.data);
    const id = randomUUID();
    const result = await db.query(OUTBOX_INSERT_SQL, [id, event.tenant, event.type, JSON.stringify(data)]);
    return { id, enqueued: rowCount(result) > 0 };
  }
}

/** One row per enabled endpoint that names the vault-wide event itself ($1 payload). */
const OPERATOR_OUTBOX_INSERT_SQL = `INSERT INTO webhook_outbox (id, tenant, event_type, payload, created_at)
  SELECT gen_random_uuid(), e.tenant, '${AUDIT_ANCHOR_EVENT}', $1::jsonb, statement_timestamp()
    FROM webhook_endpoints e WHERE e.enabled AND '${AUDIT_ANCHOR_EVENT}' = ANY (e.events)
  RETURNING id`;

/**
 * Enqueues a signed audit anchor for the operators' endpoints. Data: short strings only (a signature
 * may be longer than connection events allow, up to 1024 characters). Answers how many were queued.
 */
export async function enqueueAuditAnchor(db: Queryable, data: Record<string, string>): Promise<number> {
  for (const [k, v] of Object.entries(data)) {
    if (!/^[a-z][a-z0-9_]{0,39}$/.test(k) || typeof v !== 'string' || v.length > 1024)
      throw new TypeError(`audit anchor event: ${k} is not allowed`);
  }
  return rowCount(await db.query(OPERATOR_OUTBOX_INSERT_SQL, [JSON.stringify(data)]));
}

/** TypeORM returns the RETURNING rows; a bare pg client returns `{ rows }`. */
function rowCount(result: unknown): number {
  if (Array.isArray(result)) return result.length;
  const rows = (result as { rows?: unknown[] } | null)?.rows;
  return Array.isArray(rows) ? rows.length : 0;
}
