import { Controller, Get, Inject, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { UserSignIn } from '../../../libs/users';
import { ConsentPageFilter } from '../connect/page-error.filter';
import { redirect } from '../connect/pages/html';
import { UserCookies } from './user-cookies';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';

/** `GET /auth/callback` (register `<VAULT_PUBLIC_URL>/auth/callback` at the IdP): finishes a user's sign-in. */
@Controller('auth/callback')
@UseFilters(ConsentPageFilter)
@UseGuards(PageIpRateLimitGuard)
export class AuthCallbackController {
  private readonly cookies: UserCookies;

  constructor(
    private readonly signIn: UserSignIn,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'publicUrl'>,
  ) {
    this.cookies = new UserCookies(config.publicUrl.startsWith('https:'));
  }

  @Get()
  async callback(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const q = req.url.indexOf('?');
    const search = q < 0 ? '' : req.url.slice(q);
    // The flow cookie is single use whatever happens.
    reply.header('set-cookie', this.cookies.clearFlow());
    const done = await this.signIn.finish(search, this.cookies.read(req, this.cookies.flowName()));
    reply.header('set-cookie', [this.cookies.clearFlow(), this.cookies.session(done.tenant, done.cookie, done.maxAgeSeconds)]);
    redirect(reply, done.returnTo);
  }
}
