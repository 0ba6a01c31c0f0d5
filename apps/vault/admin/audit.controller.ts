import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { AuditLog } from '../../../libs/audit';
import { AuditVerifyService } from '../../../libs/audit-anchors';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { KEY_OPERATOR_SCOPE } from '../../../libs/keys';
import { DomainError } from '../../../libs/kernel';

@Controller('v1/admin/audit')
@UseGuards(AdminGuard)
export class AuditController {
  constructor(
    private readonly audit: AuditLog,
    private readonly verifier: AuditVerifyService,
  ) {}

  /** Filters are validated (allowlisted names and formats) by the audit log itself. */
  @Get()
  list(@Principal() p: VerifiedToken, @Query() query: Record<string, unknown>) {
    return this.audit.list(p.tenant, query);
  }

  /** The whole chain (vault-wide, so operators only) against the signed anchors the vault has stored. */
  @Get('verify')
  async verify(@Principal() p: VerifiedToken) {
    if (!p.scopes.includes(KEY_OPERATOR_SCOPE)) throw new DomainError('forbidden', 'verifying the audit chain needs vault:operator');
    const r = await this.verifier.verify();
    return {
      ok: r.ok,
      checked: r.checked,
      head: { seq: r.headSeq, hash: r.headHash },
      anchors: r.anchors,
      ...(r.problem ? { problem: r.problem, first_bad_seq: r.firstBadSeq ?? null, failed_anchor: r.failedAnchor ?? null } : {}),
      newest_anchor: r.newestAnchor ?? null,
      last_verified_anchor: r.lastVerifiedAnchor
        ? { seq: r.lastVerifiedAnchor.seq, at: r.lastVerifiedAnchor.at, age_seconds: r.lastVerifiedAnchor.ageSeconds }
        : null,
      verified_at: r.verifiedAt,
    };
  }
}
