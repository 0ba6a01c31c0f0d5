import { Body, Controller, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { ConnectSessionService } from '../../../libs/connect';
import { CreateConnectSessionDto } from './connect-session.dto';

/** `POST /v1/connect/sessions` (an app backend's admin JWT): a single-use URL for one user to connect one integration. */
@Controller('v1/connect/sessions')
@UseGuards(AdminGuard)
export class ConnectSessionsController {
  constructor(private readonly sessions: ConnectSessionService) {}

  @Post()
  @HttpCode(201)
  async create(
    @Principal() p: VerifiedToken,
    @Body({ schema: CreateConnectSessionDto }) dto: CreateConnectSessionDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const s = await this.sessions.create({
      tenant: p.tenant,
      user: dto.user,
      integration: dto.integration,
      returnUrl: dto.return_url,
      expectedIdentity: dto.expected_identity,
      userDisplayName: dto.user_display_name,
      ttlSeconds: dto.ttl_seconds,
      createdBy: `admin:${p.subject}`,
    });
    // The URL is a bearer secret until it is opened.
    res.header('Cache-Control', 'no-store');
    return { id: s.id, url: s.url, expires_at: s.expiresAt.toISOString() };
  }
}
