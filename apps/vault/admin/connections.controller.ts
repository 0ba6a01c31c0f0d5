import { Body, Controller, Delete, Get, HttpCode, Param, Put, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { ConnectionStore, ConnectionSummary, IntegrationStore, TENANT_LEVEL } from '../../../libs/credentials';
import { DomainError, TenantId } from '../../../libs/kernel';
import { validName } from '../http/names';
import { ListConnectionsQuery, PutApiKeyDto } from './connection.dto';

function view(c: ConnectionSummary) {
  return {
    id: c.id, integration: c.integration, user: c.user, level: c.level, type: c.kind, status: c.status, version: c.version,
    scopes: c.scopes, expires_at: c.expiresAt, metadata: c.metadata, provider_account_id: c.providerAccountId,
    last_refresh_at: c.lastRefreshAt, next_refresh_at: c.nextRefreshAt, last_error_class: c.lastErrorClass,
    created_at: c.createdAt, updated_at: c.updatedAt,
  };
}

@Controller('v1/admin/connections')
@UseGuards(AdminGuard)
export class ConnectionsController {
  constructor(
    private readonly connections: ConnectionStore,
    private readonly integrations: IntegrationStore,
  ) {}

  @Put(':integration/users/:user')
  putUser(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string, @Param('user', validName('user')) user: string, @Body() dto: PutApiKeyDto, @Res({ passthrough: true }) res: FastifyReply) {
    return this.putApiKey(p.tenant, integration, 'user', user, dto, res);
  }

  @Put(':integration/tenant')
  putTenant(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string, @Body() dto: PutApiKeyDto, @Res({ passthrough: true }) res: FastifyReply) {
    return this.putApiKey(p.tenant, integration, 'tenant', TENANT_LEVEL, dto, res);
  }

  private async putApiKey(tenant: TenantId, integration: string, level: 'user' | 'tenant', subject: string, dto: PutApiKeyDto, res: FastifyReply) {
    const i = await this.integrations.get(tenant, integration);
    if (!i) throw new DomainError('integration_not_found', `no integration named "${integration}"`);
    if (i.kind !== 'api_key') throw new DomainError('conflict', `integration "${integration}" is OAuth; users connect it through a connect session`);
    if (i.level !== level) throw new DomainError('conflict', `integration "${integration}" is ${i.level}-level`);
    const key = Buffer.from(dto.api_key, 'utf8');
    try {
      const r = await this.connections.putApiKey(tenant, integration, subject, key);
      res.status(r.created ? 201 : 200);
      return view(r.connection);
    } finally {
      key.fill(0);
    }
  }

  @Get()
  async list(@Principal() p: VerifiedToken, @Query() q: ListConnectionsQuery) {
    const limit = q.limit ? Math.min(Number(q.limit), 1000) : 500;
    return { connections: (await this.connections.list(p.tenant, { user: q.user, integration: q.integration, status: q.status, limit })).map(view) };
  }

  @Delete(':integration/users/:user')
  @HttpCode(204)
  async removeUser(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string, @Param('user', validName('user')) user: string) {
    if (!(await this.connections.delete(p.tenant, integration, user))) throw new DomainError('connection_not_found', 'no such connection');
  }

  @Delete(':integration/tenant')
  @HttpCode(204)
  async removeTenant(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string) {
    if (!(await this.connections.delete(p.tenant, integration, TENANT_LEVEL))) throw new DomainError('connection_not_found', 'no such connection');
  }
}
