import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ConnectionEvents, Queryable } from '../connections';
import { checkEventData, isEventType, WebhookEvent } from './webhook-events';
import { insertAuditAnchorEvents, insertOutboxEvent } from './webhook-outbox.store';

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
    return { id, enqueued: await insertOutboxEvent(db, id, event.tenant, event.type, data) };
  }
}

/**
 * Enqueues a signed audit anchor for the operators' endpoints. Data: short strings only (a signature
 * may be longer than connection events allow, up to 1024 characters). Answers how many were queued.
 */
export async function enqueueAuditAnchor(db: Queryable, data: Record<string, string>): Promise<number> {
  for (const [k, v] of Object.entries(data)) {
    if (!/^[a-z][a-z0-9_]{0,39}$/.test(k) || typeof v !== 'string' || v.length > 1024)
      throw new TypeError(`audit anchor event: ${k} is not allowed`);
  }
  return insertAuditAnchorEvents(db, data);
}
