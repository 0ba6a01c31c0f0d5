import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { AuditLog } from '../../../libs/audit';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';

@Controller('v1/admin/audit')
@UseGuards(AdminGuard)
export class AuditController {
  constructor(private readonly audit: AuditLog) {}

  /** Filters are validated (allowlisted names and formats) by the audit log itself. */
  @Get()
  list(@Principal() p: VerifiedToken, @Query() query: Record<string, unknown>) {
    return this.audit.list(p.tenant, query);
  }
}
