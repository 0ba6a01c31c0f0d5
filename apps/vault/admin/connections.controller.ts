import { Body, Controller, Delete, Get, HttpCode, Param, Put, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { DisconnectService } from '../../../libs/connect';
import { ConnectionAdminService, ConnectionSummary, TENANT_LEVEL } from '../../../libs/connections';
import { DomainError } from '../../../libs/kernel';
import { validName } from '../http/names';
import { ListConnectionsQuery, PutApiKeyDto } from './connection.dto';

function view(c: ConnectionSummary) {
  return {
    id: c.id,
    integration: c.integration,
    user: c.user,
    level: c.level,
    type: c.kind,
    status: c.status,
    version: c.version,
    scopes: c.scopes,
    expires_at: c.expiresAt,
    metadata: c.metadata,
    provider_account_id: c.providerAccountId,
    provider_account_email: c.providerAccountEmail,
    last_refresh_at: c.lastRefreshAt,
    next_refresh_at: c.nextRefreshAt,
    last_error_class: c.lastErrorClass,
    refresh_failures: c.refreshFailures,
    previous_expires_at: c.previousExpiresAt,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  };
}

@Controller('v1/admin/connections')
@UseGuards(AdminGuard)
export class ConnectionsController {
  constructor(
    private readonly connections: ConnectionAdminService,
    private readonly disconnects: DisconnectService,
  ) {}

  @Put(':integration/users/:user')
  async putUser(
    @Principal() p: VerifiedToken,
    @Param('integration', validName('integration')) integration: string,
    @Param('user', validName('user')) user: string,
    @Body({ schema: PutApiKeyDto }) dto: PutApiKeyDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return stored(res, await this.connections.putApiKey(p, { integration, user }, dto.api_key));
  }

  @Put(':integration/tenant')
  async putTenant(
    @Principal() p: VerifiedToken,
    @Param('integration', validName('integration')) integration: string,
    @Body({ schema: PutApiKeyDto }) dto: PutApiKeyDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return stored(res, await this.connections.putApiKey(p, { integration }, dto.api_key));
  }

  @Get()
  async list(@Principal() p: VerifiedToken, @Query({ schema: ListConnectionsQuery }) q: ListConnectionsQuery) {
    return {
      connections: (
        await this.connections.list(p, {
          user: q.user,
          integration: q.integration,
          status: q.status,
          limit: q.limit ? Number(q.limit) : undefined,
        })
      ).map(view),
    };
  }

  @Delete(':integration/users/:user')
  @HttpCode(204)
  async removeUser(
    @Principal() p: VerifiedToken,
    @Param('integration', validName('integration')) integration: string,
    @Param('user', validName('user')) user: string,
  ) {
    // Revoke at the provider where the entry has an endpoint, then destroy (row and wrapped DEK); audited.
    if (!(await this.disconnects.disconnect(p.tenant, integration, user, `admin:${p.subject}`)).disconnected)
      throw new DomainError('connection_not_found', 'no such connection');
  }

  @Delete(':integration/tenant')
  @HttpCode(204)
  async removeTenant(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string) {
    if (!(await this.disconnects.disconnect(p.tenant, integration, TENANT_LEVEL, `admin:${p.subject}`)).disconnected)
      throw new DomainError('connection_not_found', 'no such connection');
  }
}

function stored(res: FastifyReply, r: { created: boolean; connection: ConnectionSummary }) {
  res.status(r.created ? 201 : 200);
  return view(r.connection);
}
