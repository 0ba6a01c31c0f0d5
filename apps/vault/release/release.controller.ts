import { Body, Controller, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AgentTokenGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { CredentialReleaseService } from '../../../libs/credentials';
import { validName } from '../http/names';
import { ReleaseDto } from './release.dto';

@Controller('v1/connections')
export class ReleaseController {
  constructor(private readonly release: CredentialReleaseService) {}

  @Post(':integration/token')
  @HttpCode(200)
  @UseGuards(AgentTokenGuard)
  async token(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string, @Body() body: ReleaseDto, @Res({ passthrough: true }) res: FastifyReply) {
    res.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    return this.release.release(
      { tenant: p.tenant, subject: p.subject, agent: p.agent!, scopes: p.scopes, claims: p.claims, jti: p.jti },
      integration,
      body.scopes,
    );
  }
}
