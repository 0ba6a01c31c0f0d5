import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AuditLog } from '../../../libs/audit';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { DomainError } from '../../../libs/kernel';
import { PolicyStore } from '../../../libs/policy';
import { validName } from '../http/names';
import { PutPolicyDto } from './policy.dto';

@Controller('v1/admin/policies')
@UseGuards(AdminGuard)
export class PoliciesController {
  constructor(
    private readonly policies: PolicyStore,
    private readonly audit: AuditLog,
  ) {}

  @Put(':name')
  async put(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string, @Body() dto: PutPolicyDto, @Res({ passthrough: true }) res: FastifyReply) {
    const policy = {
      name,
      effect: dto.effect,
      agents: dto.agents,
      integrations: dto.integrations,
      scopes: dto.scopes ?? [],
      users: { roles_any: dto.users?.roles_any ?? [], subjects: dto.users?.subjects ?? [] },
      max_ttl_seconds: dto.max_ttl_seconds ?? null,
    };
    // Audited before it takes effect: with the audit log down no grant changes (fail closed). User
    // subjects named by the policy are counted, not copied into the log.
    await this.audit.record({
      tenant: p.tenant, action: 'policy.put', outcome: 'allowed',
      details: { policy: name, by: p.subject, effect: policy.effect, agents: policy.agents, integrations: policy.integrations, scopes: policy.scopes, roles_any: policy.users.roles_any, subjects: policy.users.subjects.length, max_ttl_seconds: policy.max_ttl_seconds },
    });
    const r = await this.policies.put(p.tenant, policy);
    res.status(r.created ? 201 : 200);
    return policy;
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { policies: await this.policies.list(p.tenant) };
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    // A removal only takes access away, so it is not held back by an audit outage: audited after (a 503 if that fails).
    if (!(await this.policies.delete(p.tenant, name))) throw new DomainError('not_found', `no policy "${name}"`);
    await this.audit.record({ tenant: p.tenant, action: 'policy.delete', outcome: 'allowed', details: { policy: name, by: p.subject } });
  }
}
