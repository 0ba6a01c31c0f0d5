export { VaultMetrics } from './metrics';
export type { MetricSources, ReleaseOutcome } from './metrics';
export {
  reportKeyProviderCall,
  reportAuditFlush,
  reportRefresh,
  reportWebhookDelivery,
  onKeyProviderCall,
  onAuditFlush,
  onRefresh,
  onWebhookDelivery,
  secondsSince,
} from './channels';
export type {
  KeyProviderCallEvent,
  AuditFlushEvent,
  RefreshEvent,
  RefreshOutcome,
  WebhookDeliveryEvent,
  WebhookDeliveryOutcome,
} from './channels';
export { createVaultLogger, scrubSecrets, errorSummary, isSecretKey, REDACTED } from './logging';
export type { VaultLoggerOptions } from './logging';
export { nestLogger } from './nest-logger';
