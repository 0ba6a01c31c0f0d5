import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { jobView, KEY_OPERATOR_SCOPE, KeyActor, KeyAdminService } from '../../../libs/keys';
import { validName } from '../http/names';
import { KeyStatusQuery, RetireKeysDto, RotateKeysDto, ShredTenantQuery } from './keys.dto';

function actor(p: VerifiedToken): KeyActor {
  return { tenant: p.tenant, subject: p.subject, operator: p.scopes.includes(KEY_OPERATOR_SCOPE) };
}

/**
 * Key management for security teams. A `vault:admin` token manages its tenant's keys; adding
 * `vault:operator` allows the vault-wide ones (KEK, signing keys) and other tenants.
 */
@Controller('v1/admin/keys')
@UseGuards(AdminGuard)
export class KeysController {
  constructor(private readonly admin: KeyAdminService) {}

  /** KEK versions in use, tenant-key versions with record counts, job progress, warnings. */
  @Get()
  get(@Principal() p: VerifiedToken, @Query({ schema: KeyStatusQuery }) q: KeyStatusQuery) {
    return this.admin.keyStatus(actor(p), q.tenant);
  }

  /** 202 with the job; `Location` is where its progress is. */
  @Post('rotate')
  @HttpCode(202)
  async rotate(
    @Principal() p: VerifiedToken,
    @Body({ schema: RotateKeysDto }) dto: RotateKeysDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const { job, created } = await this.admin.rotate(actor(p), dto.target, { tenant: dto.tenant, newVersion: dto.new_version });
    res.header('Location', `/v1/admin/keys/jobs/${job.id}`);
    return { target: dto.target, created, job: jobView(job) };
  }

  @Get('jobs/:id')
  async job(@Principal() p: VerifiedToken, @Param('id') id: string) {
    return jobView(await this.admin.job(actor(p), id));
  }

  /** Retires `version` and every version below it (refused with 409 while records use them). */
  @Post('retire')
  async retire(@Principal() p: VerifiedToken, @Body({ schema: RetireKeysDto }) dto: RetireKeysDto) {
    const r = await this.admin.retire(actor(p), dto.version, dto.tenant);
    return { tenant: r.tenant, retired: r.retired, min_version: r.minVersion };
  }
}

/** Crypto-shredding: deleting a user's or the tenant's data destroys the keys that could read it. */
@Controller('v1/admin')
@UseGuards(AdminGuard)
export class ShredController {
  constructor(private readonly admin: KeyAdminService) {}

  /** Every connection of the user goes, and a tenant-key rotation destroys the key that wrapped them. */
  @Delete('users/:user')
  async shredUser(@Principal() p: VerifiedToken, @Param('user', validName('user')) user: string) {
    const r = await this.admin.shredUser(actor(p), user);
    return { user, connections_destroyed: r.connections.length, tenant_key_rotation: r.job ? jobView(r.job) : null };
  }

  /** Every tenant key destroyed and every row of the tenant deleted; `?confirm=<tenant id>` is required. */
  @Delete('tenant')
  @HttpCode(200)
  async shredTenant(@Principal() p: VerifiedToken, @Query({ schema: ShredTenantQuery }) q: ShredTenantQuery) {
    const r = await this.admin.shredTenant(actor(p), q.confirm);
    return {
      tenant: r.tenant,
      tenant_keys_destroyed: r.tenantKeysDestroyed,
      connections_destroyed: r.connections,
      integrations_destroyed: r.integrations,
      agents_deleted: r.agents,
      policies_deleted: r.policies,
    };
  }
}
