export { VaultMetrics } from './metrics';
export type { MetricSources, ReleaseOutcome } from './metrics';
export { reportKeyProviderCall, reportAuditFlush, reportRefresh, onKeyProviderCall, onAuditFlush, onRefresh, secondsSince } from './channels';
export type { KeyProviderCallEvent, AuditFlushEvent, RefreshEvent, RefreshOutcome } from './channels';
export { createVaultLogger, scrubSecrets, errorSummary, isSecretKey, REDACTED } from './logging';
export type { VaultLoggerOptions } from './logging';
