import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { Integration, IntegrationStore, kindOf } from '../../../libs/credentials';
import { DomainError, Secret } from '../../../libs/kernel';
import { validName } from '../http/names';
import { PutIntegrationDto } from './integration.dto';

function view(i: Integration) {
  return {
    name: i.name,
    provider: i.provider,
    kind: i.kind,
    level: i.level,
    ...i.config,
    has_client_secret: i.hasClientSecret,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
  };
}

@Controller('v1/admin/integrations')
@UseGuards(AdminGuard)
export class IntegrationsController {
  constructor(private readonly integrations: IntegrationStore) {}

  @Put(':name')
  async put(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string, @Body() dto: PutIntegrationDto, @Res({ passthrough: true }) res: FastifyReply) {
    const { provider, level, client_secret, ...config } = dto;
    if (kindOf(provider) === 'api_key' && (client_secret || config.client_id)) {
      throw new DomainError('validation_failed', 'api_key integrations take no client_id or client_secret', { extra: { errors: [{ field: 'client_secret', message: 'not allowed for api_key' }] } });
    }
    if (provider === 'custom-oauth2' && (!config.authorize_url || !config.token_url)) {
      throw new DomainError('validation_failed', 'custom-oauth2 needs authorize_url and token_url', { extra: { errors: [{ field: 'token_url', message: 'is required for custom-oauth2' }] } });
    }
    const result = await this.integrations.put(p.tenant, name, {
      provider,
      level: level ?? 'user',
      config: JSON.parse(JSON.stringify(config)),
      clientSecret: client_secret === undefined ? undefined : Secret.of(client_secret),
    });
    res.status(result.created ? 201 : 200);
    return view(result.integration);
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { integrations: (await this.integrations.list(p.tenant)).map(view) };
  }

  @Get(':name')
  async get(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    const i = await this.integrations.get(p.tenant, name);
    if (!i) throw new DomainError('integration_not_found', `no integration named "${name}"`);
    return view(i);
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    if (!(await this.integrations.delete(p.tenant, name))) throw new DomainError('integration_not_found', `no integration named "${name}"`);
  }
}
