import { Body, Controller, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { AgentAdminService } from '../../../libs/policy';
import { validName } from '../http/names';

export const RotateAgentSecretDto = z
  .strictObject({
    /** How long the previous secret keeps working (default 1 hour, at most 30 days; 0 = not at all). */
    overlap_seconds: z
      .int()
      .min(0)
      .max(30 * 24 * 3600)
      .optional()
      .meta({ default: 3600, description: 'How long the previous secret keeps working' }),
  })
  .meta({ id: 'RotateAgentSecretDto' });
export type RotateAgentSecretDto = z.infer<typeof RotateAgentSecretDto>;

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
    @Body({ schema: RotateAgentSecretDto }) dto: RotateAgentSecretDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const rotated = await this.agents.rotateSecret(p, clientId, dto.overlap_seconds);
    res.header('Cache-Control', 'no-store');
    return {
      client_id: clientId,
      client_secret: rotated.clientSecret.reveal(),
      previous_secret_expires_at: rotated.previousExpiresAt ? rotated.previousExpiresAt.toISOString() : null,
    };
  }
}
