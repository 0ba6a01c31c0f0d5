import { Controller, Delete, Get, HttpCode, Param, UseGuards } from '@nestjs/common';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { UserSessionAdminService } from '../../../libs/users';

/** A person's sessions on `/account` (docs/users.md): list the live ones, end them all at once. */
@Controller('v1/admin/users/:subject/sessions')
@UseGuards(AdminGuard)
export class UserSessionsController {
  constructor(private readonly sessions: UserSessionAdminService) {}

  @Get()
  async list(@Principal() p: VerifiedToken, @Param('subject') subject: string) {
    const live = await this.sessions.list(p.tenant, subject);
    return {
      subject,
      sessions: live.map((s) => ({
        email: s.email,
        roles: s.roles,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
        idle_expires_at: s.idleExpiresAt,
        expires_at: s.expiresAt,
      })),
    };
  }

  @Delete()
  @HttpCode(200)
  async revoke(@Principal() p: VerifiedToken, @Param('subject') subject: string) {
    return { subject, revoked: await this.sessions.revokeAll(p.tenant, p.subject, subject) };
  }
}
