import { Body, Controller, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ClientRegistry, RegistrationError } from '../../../libs/authorization';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { asTenantId, TenantId } from '../../../libs/kernel';

/** `POST /oauth2/register` (RFC 7591) for MCP clients: public clients only; errors as RFC 7591 §3.2.2 JSON. */
@Controller()
export class RegisterController {
  constructor(
    private readonly clients: ClientRegistry,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'users'>,
  ) {}

  @Post(['oauth2/register', 't/:tenant/oauth2/register'])
  @HttpCode(201)
  async register(
    @Param('tenant') t: string | undefined,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    res.header('Cache-Control', 'no-store');
    try {
      const tenant = this.tenantOf(t);
      return await this.clients.register(tenant, req.ip, body);
    } catch (err) {
      if (!(err instanceof RegistrationError)) throw err;
      res.status(err.status);
      if (err.retryAfter !== undefined) res.header('Retry-After', String(err.retryAfter));
      return { error: err.error, error_description: err.description };
    }
  }

  private tenantOf(param: string | undefined): TenantId {
    try {
      return asTenantId(param ?? this.config.users.defaultTenant);
    } catch {
      throw new RegistrationError(404, 'invalid_request', 'no such tenant');
    }
  }
}
