export { AuditModule } from './audit.module';
export { AuditLog } from './audit-log';
export type { AuditHourlyCount } from './audit-reader';
export type { AuditAdminChange, AuditRefusalCount, AuditTenantScope } from './audit-security-reader';
export { chainHead, retentionBoundary, retentionRecorded } from './audit-chain';
export { verifyAuditChain } from './verify-chain';
export type { AuditChainProblem, AuditChainReport, VerifyAuditChainOptions } from './verify-chain';
export { AUDIT_MAC_KEY, AUDIT_OUTCOMES, AuditInputError, UNATTRIBUTED_TENANT } from './audit.types';
export type {
  AuditEventInput,
  AuditEventView,
  AuditListQuery,
  AuditLogStats,
  AuditMacKeySource,
  AuditOutcome,
  AuditPage,
  AuditReceipt,
} from './audit.types';
