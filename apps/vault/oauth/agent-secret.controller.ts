import { Body, Controller, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { AgentAdminService } from '../../../libs/policy';
import { validName } from '../http/names';

export class RotateAgentSecretDto {
  /** How long the previous secret keeps working (default 1 hour, at most 30 days; 0 = not at all). */
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    maximum: 2592000,
    default: 3600,
    description: 'How long the previous secret keeps working',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(30 * 24 * 3600)
  overlap_seconds?: number;
}

/**
 * `POST /v1/admin/agents/{client_id}/secret`: a new client secret for a secret-authenticated
 * agent, shown once; the previous one keeps working for `overlap_seconds` so the agent can be
 * redeployed without downtime.
 */
@Controller('v1/admin/agents')
@UseGuards(AdminGuard)
export class AgentSecretController {
  constructor(private readonly agents: AgentAdminService) {}

  @Post(':client_id/secret')
  @HttpCode(200)
  async rotate(
    @Principal() p: VerifiedToken,
    @Param('client_id', validName('client_id')) clientId: string,
    @Body() dto: RotateAgentSecretDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const rotated = await this.agents.rotateSecret(p, clientId, dto?.overlap_seconds);
    res.header('Cache-Control', 'no-store');
    return {
      client_id: clientId,
      client_secret: rotated.clientSecret.reveal(),
      previous_secret_expires_at: rotated.previousExpiresAt ? rotated.previousExpiresAt.toISOString() : null,
    };
  }
}
