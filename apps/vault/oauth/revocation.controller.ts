import { Controller, HttpCode, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TokenRevocationService } from '../../../libs/token-service';
import { OAuthErrorFilter } from './oauth-error.filter';

/**
 * `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662): form bodies read
 * raw like the token endpoint's; errors answered the OAuth way (`OAuthErrorFilter`).
 */
@Controller('oauth2')
@UseFilters(OAuthErrorFilter)
export class RevocationController {
  constructor(private readonly tokens: TokenRevocationService) {}

  @Post('revoke')
  @HttpCode(200)
  async revoke(@Req() req: FastifyRequest, @Res({ passthrough: true }) res: FastifyReply): Promise<void> {
    await this.tokens.revoke({
      ip: req.ip,
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
      body: req.body,
    });
    res.header('Cache-Control', 'no-store');
  }

  @Post('introspect')
  @HttpCode(200)
  async introspect(@Req() req: FastifyRequest, @Res({ passthrough: true }) res: FastifyReply) {
    const answer = await this.tokens.introspect({
      ip: req.ip,
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
      body: req.body,
    });
    res.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    return answer;
  }
}
