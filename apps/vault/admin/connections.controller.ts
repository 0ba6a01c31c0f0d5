import { Body, Controller, Delete, Get, HttpCode, Param, Put, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AuditLog } from '../../../libs/audit';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { DisconnectService } from '../../../libs/connect';
import { ConnectionStore, ConnectionSummary, IntegrationStore, TENANT_LEVEL } from '../../../libs/credentials';
import { DomainError, TenantId } from '../../../libs/kernel';
import { validName } from '../http/names';
import { ListConnectionsQuery, PutApiKeyDto } from './connection.dto';

function view(c: ConnectionSummary) {
  return {
    id: c.id, integration: c.integration, user: c.user, level: c.level, type: c.kind, status: c.status, version: c.version,
    scopes: c.scopes, expires_at: c.expiresAt, metadata: c.metadata, provider_account_id: c.providerAccountId,
    last_refresh_at: c.lastRefreshAt, next_refresh_at: c.nextRefreshAt, last_error_class: c.lastErrorClass, refresh_failures: c.refreshFailures,
    previous_expires_at: c.previousExpiresAt,
    created_at: c.createdAt, updated_at: c.updatedAt,
  };
}

@Controller('v1/admin/connections')
@UseGuards(AdminGuard)
export class ConnectionsController {
  constructor(
    private readonly connections: ConnectionStore,
    private readonly integrations: IntegrationStore,
    private readonly audit: AuditLog,
    private readonly disconnects: DisconnectService,
  ) {}

  @Put(':integration/users/:user')
  putUser(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string, @Param('user', validName('user')) user: string, @Body() dto: PutApiKeyDto, @Res({ passthrough: true }) res: FastifyReply) {
    return this.putApiKey(p, integration, 'user', user, dto, res);
  }

  @Put(':integration/tenant')
  putTenant(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string, @Body() dto: PutApiKeyDto, @Res({ passthrough: true }) res: FastifyReply) {
    return this.putApiKey(p, integration, 'tenant', TENANT_LEVEL, dto, res);
  }

  private async putApiKey(p: VerifiedToken, integration: string, level: 'user' | 'tenant', subject: string, dto: PutApiKeyDto, res: FastifyReply) {
    const tenant: TenantId = p.tenant;
    const i = await this.integrations.get(tenant, integration);
    if (!i) throw new DomainError('integration_not_found', `no integration named "${integration}"`);
    if (i.kind !== 'api_key') throw new DomainError('conflict', `integration "${integration}" is OAuth; users connect it through a connect session`);
    if (i.level !== level) throw new DomainError('conflict', `integration "${integration}" is ${i.level}-level`);
    const key = Buffer.from(dto.api_key, 'utf8');
    try {
      // Audited before the write, so that with the audit log down nothing is stored (fail closed).
      // A stored API key replaced is a key rotation: the previous value lives on for the grace period.
      const existing = await this.connections.find(tenant, integration, subject);
      await this.audit.record(
        existing
          ? { tenant, action: 'key.rotate', outcome: 'allowed', subject: subject || undefined, integration, details: { target: 'api_key', connection: existing.id, from_version: existing.version, by: p.subject } }
          : { tenant, action: 'connection.connect', outcome: 'allowed', subject: subject || undefined, integration, details: { method: 'admin_api_key', by: p.subject } },
      );
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
    // Revoke at the provider where the entry has an endpoint, then destroy (row and wrapped DEK); audited.
    if (!(await this.disconnects.disconnect(p.tenant, integration, user, `admin:${p.subject}`)).disconnected) throw new DomainError('connection_not_found', 'no such connection');
  }

  @Delete(':integration/tenant')
  @HttpCode(204)
  async removeTenant(@Principal() p: VerifiedToken, @Param('integration', validName('integration')) integration: string) {
    if (!(await this.disconnects.disconnect(p.tenant, integration, TENANT_LEVEL, `admin:${p.subject}`)).disconnected) throw new DomainError('connection_not_found', 'no such connection');
  }
}
