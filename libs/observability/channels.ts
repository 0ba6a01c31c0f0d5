import { channel, Channel } from 'node:diagnostics_channel';

/**
 * Instrumentation points that libs report to without depending on a metrics library: each
 * event names its `source` (the object that did the work), so an app that runs several
 * instances in one process (tests) counts only its own. Publishing with no subscriber is free.
 */

/** One call of a key provider operation (`unwrap`, `health`, …): a Key Vault request for `azure`. */
export interface KeyProviderCallEvent {
  source: object;
  provider: string;
  operation: string;
  outcome: 'ok' | 'error';
  seconds: number;
}

/** One group-commit flush of the audit log. */
export interface AuditFlushEvent {
  source: object;
  outcome: 'committed' | 'failed';
  /** Events in the batch (0 when the flush failed before taking any). */
  events: number;
  seconds: number;
}

/** How a refresh attempt ended: `sibling` = another refresher's commit stands; `lease_wait` = waited for another process's lease. */
export type RefreshOutcome = 'refreshed' | 'transient' | 'terminal' | 'indeterminate' | 'internal' | 'sibling' | 'lease_wait';

/** One refresh attempt (or wait) of a connection refresher. `errorClass` is a provider error code or ours, never free text. */
export interface RefreshEvent {
  source: object;
  provider: string;
  trigger: 'on_demand' | 'scheduled';
  outcome: RefreshOutcome;
  errorClass: string | null;
  seconds: number;
}

/** How one webhook delivery attempt ended: `retry` = the event stays pending (attempted again later); `dead` = given up (or dropped). */
export type WebhookDeliveryOutcome = 'delivered' | 'retry' | 'dead';

/** One webhook delivery attempt of a dispatcher. `eventType` is one of the known event types, never free text. */
export interface WebhookDeliveryEvent {
  source: object;
  eventType: string;
  outcome: WebhookDeliveryOutcome;
}

const keyProviderCalls = channel('credential-vault:key-provider-call');
const refreshes = channel('credential-vault:refresh');
const auditFlushes = channel('credential-vault:audit-flush');
const webhookDeliveries = channel('credential-vault:webhook-delivery');

function publish<T>(ch: Channel, event: () => T): void {
  if (ch.hasSubscribers) ch.publish(event());
}

function subscribe<T extends { source: object }>(ch: Channel, source: object, listener: (e: T) => void): () => void {
  const handler = (message: unknown) => {
    if ((message as T).source === source) listener(message as T);
  };
  ch.subscribe(handler);
  return () => ch.unsubscribe(handler);
}

export const reportKeyProviderCall = (event: () => KeyProviderCallEvent): void => publish(keyProviderCalls, event);
export const reportAuditFlush = (event: () => AuditFlushEvent): void => publish(auditFlushes, event);

export const reportRefresh = (event: () => RefreshEvent): void => publish(refreshes, event);
/** Listens to the refresh attempts of one refresher. */
export const onRefresh = (source: object, listener: (e: RefreshEvent) => void): (() => void) => subscribe(refreshes, source, listener);
export const reportWebhookDelivery = (event: () => WebhookDeliveryEvent): void => publish(webhookDeliveries, event);
/** Listens to the delivery attempts of one webhook dispatcher; returns the unsubscribe function. */
export const onWebhookDelivery = (source: object, listener: (e: WebhookDeliveryEvent) => void): (() => void) =>
  subscribe(webhookDeliveries, source, listener);
/** Listens to the calls of one key provider; returns the unsubscribe function. */
export const onKeyProviderCall = (source: object, listener: (e: KeyProviderCallEvent) => void): (() => void) =>
  subscribe(keyProviderCalls, source, listener);
/** Listens to the flushes of one audit log; returns the unsubscribe function. */
export const onAuditFlush = (source: object, listener: (e: AuditFlushEvent) => void): (() => void) =>
  subscribe(auditFlushes, source, listener);

/** Seconds since `startedMs` (a `performance.now()` reading). */
export function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
