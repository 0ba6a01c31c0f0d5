import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { IntegrationAdminService, IntegrationReport } from '../../../libs/connections';
import { validName } from '../http/names';
import { PutIntegrationDto } from './integration.dto';

function view({ integration: i, scopesNoPolicyAllows }: IntegrationReport) {
  return {
    name: i.name,
    provider: i.provider,
    kind: i.kind,
    level: i.level,
    ...i.config,
    has_client_secret: i.hasClientSecret,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
    ...(scopesNoPolicyAllows ? { scopes_no_policy_allows: scopesNoPolicyAllows } : {}),
  };
}

@Controller('v1/admin/integrations')
@UseGuards(AdminGuard)
export class IntegrationsController {
  constructor(private readonly integrations: IntegrationAdminService) {}

  @Put(':name')
  async put(
    @Principal() p: VerifiedToken,
    @Param('name', validName('name')) name: string,
    @Body({ schema: PutIntegrationDto }) dto: PutIntegrationDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const r = await this.integrations.put(p, name, dto);
    res.status(r.created ? 201 : 200);
    return view(r);
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { integrations: (await this.integrations.list(p)).map((integration) => view({ integration })) };
  }

  @Get(':name')
  async get(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    return view(await this.integrations.get(p, name));
  }

  @Delete(':name')
  @HttpCode(204)
  remove(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    return this.integrations.remove(p, name);
  }
}
