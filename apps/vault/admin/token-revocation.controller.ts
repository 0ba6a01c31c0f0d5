import { Controller, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { TokenRevocationService } from '../../../libs/token-service';
import { validName } from '../http/names';

/** Revoke every token of an agent or of a user issued up to now (every replica within a second). */
@Controller('v1/admin')
@UseGuards(AdminGuard)
export class TokenRevocationController {
  constructor(private readonly tokens: TokenRevocationService) {}

  @Post('agents/:client_id/revoke-tokens')
  @HttpCode(200)
  agent(
    @Principal() p: VerifiedToken,
    @Param('client_id', validName('client_id')) clientId: string,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    res.header('Cache-Control', 'no-store');
    return this.tokens.revokeAll(p, 'agent', clientId);
  }

  @Post('users/:user/revoke-tokens')
  @HttpCode(200)
  user(@Principal() p: VerifiedToken, @Param('user', validName('user')) user: string, @Res({ passthrough: true }) res: FastifyReply) {
    res.header('Cache-Control', 'no-store');
    return this.tokens.revokeAll(p, 'subject', user);
  }
}
