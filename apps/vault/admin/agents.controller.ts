import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, TrustedIssuerRegistry, VerifiedToken } from '../../../libs/auth';
import { DomainError } from '../../../libs/kernel';
import { AgentAdminService } from '../../../libs/policy';
import { validName } from '../http/names';
import { PutAgentDto } from './agent.dto';

@Controller('v1/admin/agents')
@UseGuards(AdminGuard)
export class AgentsController {
  constructor(
    private readonly agents: AgentAdminService,
    private readonly issuers: TrustedIssuerRegistry,
  ) {}

  @Put(':client_id')
  async put(
    @Principal() p: VerifiedToken,
    @Param('client_id', validName('client_id')) clientId: string,
    @Body({ schema: PutAgentDto }) dto: PutAgentDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    // Only issuers the vault can verify (their keys come from TRUSTED_ISSUERS).
    const untrusted = (dto.federated_credentials ?? []).findIndex((c) => this.issuers.get(c.issuer) === undefined);
    if (untrusted >= 0) {
      const field = `federated_credentials.${untrusted}.issuer`;
      throw new DomainError('validation_failed', `Invalid request: ${field}`, {
        extra: { errors: [{ field, message: 'is not a trusted issuer (TRUSTED_ISSUERS)' }] },
      });
    }
    const r = await this.agents.put(p, clientId, dto);
    res.status(r.created ? 201 : 200);
    res.header('Cache-Control', 'no-store');
    // The agent as GET lists it (never a secret hash); the generated secret is shown exactly once.
    return { ...r.agent, ...(r.clientSecret ? { client_secret: r.clientSecret.reveal() } : {}) };
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { agents: await this.agents.list(p) };
  }

  @Delete(':client_id')
  @HttpCode(204)
  remove(@Principal() p: VerifiedToken, @Param('client_id', validName('client_id')) clientId: string) {
    return this.agents.remove(p, clientId);
  }
}
