import { Controller, HttpCode, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TokenExchangeService } from '../../../libs/token-service';
import { OAuthErrorFilter } from './oauth-error.filter';

/**
 * `POST /oauth2/token`: RFC 8693 token exchange for agents. The form body is read raw (the
 * global JSON validation pipe does not apply to `@Req()`); the service validates it.
 */
@Controller('oauth2')
@UseFilters(OAuthErrorFilter)
export class TokenController {
  constructor(private readonly exchange: TokenExchangeService) {}

  @Post('token')
  @HttpCode(200)
  async token(@Req() req: FastifyRequest, @Res({ passthrough: true }) res: FastifyReply) {
    const auth = req.headers.authorization;
    const result = await this.exchange.exchange({
      ip: req.ip,
      contentType: req.headers['content-type'],
      authorization: auth,
      dpop: req.headers.dpop,
      body: req.body,
    });
    res.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    return result;
  }
}
