export { VaultMetrics } from './metrics';
export type { MetricSources, ReleaseOutcome } from './metrics';
export { reportKeyProviderCall, reportAuditFlush, onKeyProviderCall, onAuditFlush, secondsSince } from './channels';
export type { KeyProviderCallEvent, AuditFlushEvent } from './channels';
export { createVaultLogger, scrubSecrets, errorSummary, isSecretKey, REDACTED } from './logging';
export type { VaultLoggerOptions } from './logging';
