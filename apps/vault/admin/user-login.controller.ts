import { Body, Controller, Get, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { UserLogin, UserLoginAdminService } from '../../../libs/users';
import { PutUserLoginDto } from './user-login.dto';

function view(l: UserLogin) {
  return {
    issuer: l.issuer,
    client_id: l.clientId,
    scopes: l.scopes,
    subject_claim: l.subjectClaim,
    roles_claim: l.rolesClaim,
    created_at: l.createdAt,
    updated_at: l.updatedAt,
  };
}

/** The tenant's OpenID provider for people signing in to `/account` (CONTRACT.md); the secret is write-only. */
@Controller('v1/admin/user-login')
@UseGuards(AdminGuard)
export class UserLoginController {
  constructor(private readonly logins: UserLoginAdminService) {}

  @Put()
  async put(
    @Principal() p: VerifiedToken,
    @Body({ schema: PutUserLoginDto }) dto: PutUserLoginDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const r = await this.logins.put(p.tenant, p.subject, dto);
    res.status(r.created ? 201 : 200);
    return view(r.login);
  }

  @Get()
  async get(@Principal() p: VerifiedToken) {
    return view(await this.logins.get(p.tenant));
  }
}
