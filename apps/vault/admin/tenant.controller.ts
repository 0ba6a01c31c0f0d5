import { Body, Controller, Get, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { TenantProfile, TenantProfileService } from '../../../libs/tenants';
import { PutTenantDto } from './tenant.dto';

function view(p: TenantProfile) {
  return { tenant: p.tenant, display_name: p.displayName, logo_url: p.logoUrl, updated_at: p.updatedAt };
}

/** The tenant's display name and logo for the pages people see (docs/api.md). `DELETE /v1/admin/tenant` (shred) is ShredController's. */
@Controller('v1/admin/tenant')
@UseGuards(AdminGuard)
export class TenantController {
  constructor(private readonly profiles: TenantProfileService) {}

  @Put()
  async put(
    @Principal() p: VerifiedToken,
    @Body({ schema: PutTenantDto }) dto: PutTenantDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const r = await this.profiles.put(p.tenant, p.subject, dto);
    res.status(r.created ? 201 : 200);
    return view(r.profile);
  }

  @Get()
  async get(@Principal() p: VerifiedToken) {
    return view(await this.profiles.get(p.tenant));
  }
}
