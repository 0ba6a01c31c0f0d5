export { AuditAnchorsModule } from './audit-anchors.module';
export { AuditAnchorJob } from './audit-anchor.job';
export { AuditVerifyService } from './audit-verify.service';
export type { AuditVerifyView } from './audit-verify.service';
export { anchorPayload, anchorSignatureValid, parseAnchorLines, AnchorInputError } from './anchor';
export type { AuditAnchor } from './anchor';
export { verifyWithAnchors } from './verify-with-anchors';
export type { AnchoredVerifyReport, AnchorProblem, VerifyWithAnchorsOptions } from './verify-with-anchors';
export { retainThrough, VAULT_AUDIT_TENANT } from './audit-retention';
