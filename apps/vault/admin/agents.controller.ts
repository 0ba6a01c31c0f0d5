import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AuditLog } from '../../../libs/audit';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { DomainError } from '../../../libs/kernel';
import { AgentStore } from '../../../libs/policy';
import { validName } from '../http/names';
import { PutAgentDto } from './agent.dto';

@Controller('v1/admin/agents')
@UseGuards(AdminGuard)
export class AgentsController {
  constructor(
    private readonly agents: AgentStore,
    private readonly audit: AuditLog,
  ) {}

  @Put(':client_id')
  async put(@Principal() p: VerifiedToken, @Param('client_id', validName('client_id')) clientId: string, @Body() dto: PutAgentDto, @Res({ passthrough: true }) res: FastifyReply) {
    if (dto.auth_method === 'private_key_jwt' && !Array.isArray(dto.jwks?.keys)) {
      throw new DomainError('validation_failed', 'private_key_jwt needs jwks with keys', { extra: { errors: [{ field: 'jwks', message: 'must be {"keys":[...]}' }] } });
    }
    if (dto.auth_method === undefined && dto.jwks !== undefined) {
      // Replacing keys is a credential change: it says which method the keys are for.
      throw new DomainError('validation_failed', 'jwks needs auth_method', { extra: { errors: [{ field: 'auth_method', message: 'required with jwks ("private_key_jwt")' }] } });
    }
    // Audited before it takes effect (fail closed); key ids only, never key material or secrets.
    // Without auth_method the agent keeps its method and credentials: only its name changes.
    const kids = Array.isArray(dto.jwks?.keys) ? (dto.jwks.keys as Array<{ kid?: unknown }>).map((k) => (typeof k?.kid === 'string' ? k.kid : null)) : undefined;
    const audited = dto.auth_method ?? 'unchanged';
    await this.audit.record({ tenant: p.tenant, action: 'agent.put', outcome: 'allowed', agent: clientId, details: { by: p.subject, auth_method: audited, ...(kids ? { jwks_kids: kids } : {}) } });
    const r = await this.agents.put(p.tenant, { client_id: clientId, name: dto.name, auth_method: dto.auth_method, jwks: dto.jwks ?? null });
    res.status(r.created ? 201 : 200);
    res.header('Cache-Control', 'no-store');
    // The generated secret is shown exactly once.
    return { client_id: clientId, name: dto.name, auth_method: r.authMethod, ...(r.clientSecret ? { client_secret: r.clientSecret.reveal() } : {}) };
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { agents: await this.agents.list(p.tenant) };
  }

  @Delete(':client_id')
  @HttpCode(204)
  async remove(@Principal() p: VerifiedToken, @Param('client_id', validName('client_id')) clientId: string) {
    // Takes access away: not held back by an audit outage, audited after (a 503 if that fails).
    if (!(await this.agents.delete(p.tenant, clientId))) throw new DomainError('not_found', `no agent "${clientId}"`);
    await this.audit.record({ tenant: p.tenant, action: 'agent.delete', outcome: 'allowed', agent: clientId, details: { by: p.subject } });
  }
}
