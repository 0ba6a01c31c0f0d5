import { TenantId } from '../kernel';

/** Connection lifecycle events delivered to the tenant's webhook endpoint. */
export type ConnectionEventType =
  'connection.created' | 'connection.refresh_failed' | 'connection.needs_reauth' | 'connection.recovered' | 'connection.deleted';

export interface ConnectionEvent {
  tenant: TenantId;
  type: ConnectionEventType;
  /** Identifiers and states only (connection_id, integration, user, status, error_class): never a secret. */
  data: Record<string, unknown>;
}

/** Anything that runs SQL: the DataSource, or the EntityManager of an open transaction. */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/**
 * The transactional outbox the events go through (libs/webhooks binds it). `enqueue` runs inside
 * the transaction that changes the connection, so an event exists exactly when its change does.
 */
export interface ConnectionEvents {
  enqueue(db: Queryable, event: ConnectionEvent): Promise<unknown>;
}

export const CONNECTION_EVENTS = Symbol('CONNECTION_EVENTS');

/**
 * Events go nowhere: for a store built by hand where no webhook can be delivered (a benchmark, a
 * migration test). Every process binds the real outbox (libs/webhooks); naming this one keeps the
 * choice visible where it is made, instead of an optional injection that drops events unnoticed.
 */
export class NoConnectionEvents implements ConnectionEvents {
  async enqueue(): Promise<void> {}
}
