import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { TokenServiceMetadata, TokenSigningKeys } from '../../../libs/token-service';

/** Public discovery documents: RFC 8414, RFC 9728 and the token service's JWKS. */
@Controller('.well-known')
export class WellKnownController {
  constructor(
    private readonly metadata: TokenServiceMetadata,
    private readonly keys: TokenSigningKeys,
  ) {}

  @Get('oauth-authorization-server')
  authorizationServer(@Res({ passthrough: true }) res: FastifyReply) {
    res.header('Cache-Control', 'public, max-age=300');
    return this.metadata.authorizationServer();
  }

  @Get('oauth-protected-resource')
  protectedResource(@Res({ passthrough: true }) res: FastifyReply) {
    res.header('Cache-Control', 'public, max-age=300');
    return this.metadata.protectedResource();
  }

  /** Short cache: a key published here after a rotation must reach verifiers quickly. */
  @Get('jwks.json')
  async jwks(@Res({ passthrough: true }) res: FastifyReply) {
    res.header('Cache-Control', 'public, max-age=60').header('Content-Type', 'application/jwk-set+json');
    return this.keys.jwks();
  }
}
