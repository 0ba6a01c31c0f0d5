import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { DomainError } from '../../../libs/kernel';
import { AgentStore } from '../../../libs/policy';
import { validName } from '../http/names';
import { PutAgentDto } from './agent.dto';

@Controller('v1/admin/agents')
@UseGuards(AdminGuard)
export class AgentsController {
  constructor(private readonly agents: AgentStore) {}

  @Put(':client_id')
  async put(@Principal() p: VerifiedToken, @Param('client_id', validName('client_id')) clientId: string, @Body() dto: PutAgentDto, @Res({ passthrough: true }) res: FastifyReply) {
    const authMethod = dto.auth_method ?? 'none';
    if (authMethod === 'private_key_jwt' && !Array.isArray(dto.jwks?.keys)) {
      throw new DomainError('validation_failed', 'private_key_jwt needs jwks with keys', { extra: { errors: [{ field: 'jwks', message: 'must be {"keys":[...]}' }] } });
    }
    const r = await this.agents.put(p.tenant, { client_id: clientId, name: dto.name, auth_method: authMethod, jwks: dto.jwks ?? null });
    res.status(r.created ? 201 : 200);
    res.header('Cache-Control', 'no-store');
    // The generated secret is shown exactly once.
    return { client_id: clientId, name: dto.name, auth_method: authMethod, ...(r.clientSecret ? { client_secret: r.clientSecret.reveal() } : {}) };
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { agents: await this.agents.list(p.tenant) };
  }

  @Delete(':client_id')
  @HttpCode(204)
  async remove(@Principal() p: VerifiedToken, @Param('client_id', validName('client_id')) clientId: string) {
    if (!(await this.agents.delete(p.tenant, clientId))) throw new DomainError('not_found', `no agent "${clientId}"`);
  }
}
