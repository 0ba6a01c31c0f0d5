import { Controller, HttpCode, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CibaGrant } from '../../../libs/token-service';
import { OAuthErrorFilter } from './oauth-error.filter';

/**
 * `POST /oauth2/bc-authorize`: a CIBA backchannel authentication request (poll mode) from an agent.
 * Form-encoded like the token endpoint, read raw; the grant validates it and answers RFC 6749 errors.
 */
@Controller('oauth2')
@UseFilters(OAuthErrorFilter)
export class BcAuthorizeController {
  constructor(private readonly ciba: CibaGrant) {}

  @Post('bc-authorize')
  @HttpCode(200)
  async authorize(@Req() req: FastifyRequest, @Res({ passthrough: true }) res: FastifyReply) {
    const result = await this.ciba.authorize({
      ip: req.ip,
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
      body: req.body,
    });
    res.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    return result;
  }
}
