import { onWebhookDelivery, VaultMetrics } from '../observability';
import { WebhookDispatcher } from './webhook-dispatcher';

/**
 * Feeds a process's metrics from the dispatcher that runs in it: delivery attempts by event type and
 * outcome (`vault_webhook_deliveries_total`), and the outbox lag read at scrape time
 * (`vault_webhook_outbox_lag_seconds`). Labels are event types and outcomes: never a tenant or a URL.
 * Returns the unsubscribe function.
 *
 * @example
 *   const off = feedWebhookMetrics(metrics, app.get(WebhookDispatcher));
 */
export function feedWebhookMetrics(metrics: VaultMetrics, dispatcher: WebhookDispatcher): () => void {
  metrics.watchWebhookOutboxLag(() => dispatcher.outboxLagSeconds());
  return onWebhookDelivery(dispatcher, (e) => metrics.recordWebhookDelivery(e));
}
