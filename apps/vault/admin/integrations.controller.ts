import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AuditLog } from '../../../libs/audit';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { Integration, IntegrationStore, kindOf } from '../../../libs/credentials';
import { DomainError, Secret } from '../../../libs/kernel';
import { CUSTOM_PROVIDER, OutboundPolicy, ProviderCatalog } from '../../../libs/oauth';
import { scopesNoPolicyAllows } from '../../../libs/credentials';
import { PolicyDecisionPoint } from '../../../libs/policy';
import { validName } from '../http/names';
import { PutIntegrationDto } from './integration.dto';

function view(i: Integration, extra: Record<string, unknown> = {}) {
  return {
    name: i.name,
    provider: i.provider,
    kind: i.kind,
    level: i.level,
    ...i.config,
    has_client_secret: i.hasClientSecret,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
    ...extra,
  };
}

@Controller('v1/admin/integrations')
@UseGuards(AdminGuard)
export class IntegrationsController {
  constructor(
    private readonly integrations: IntegrationStore,
    private readonly catalog: ProviderCatalog,
    private readonly outbound: OutboundPolicy,
    private readonly audit: AuditLog,
    private readonly decisions: PolicyDecisionPoint,
  ) {}

  @Put(':name')
  async put(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string, @Body() dto: PutIntegrationDto, @Res({ passthrough: true }) res: FastifyReply) {
    const { provider, level, client_secret, ...config } = dto;
    if (kindOf(provider) === 'api_key' && (client_secret || config.client_id)) {
      throw new DomainError('validation_failed', 'api_key integrations take no client_id or client_secret', { extra: { errors: [{ field: 'client_secret', message: 'not allowed for api_key' }] } });
    }
    const errors = this.providerSettings(provider, config);
    if (errors.length) throw new DomainError('validation_failed', `Invalid provider settings: ${[...new Set(errors.map((e) => e.field))].join(', ')}`, { extra: { errors } });
    // Audited before it is stored (fail closed); the client secret only as "set" (audit keys may not name a secret), never its value.
    await this.audit.record({
      tenant: p.tenant, action: 'integration.put', outcome: 'allowed', integration: name,
      details: { by: p.subject, provider, level: level ?? 'user', settings: Object.keys(config).filter((k) => config[k as keyof typeof config] !== undefined).sort(), client_credential_set: client_secret !== undefined },
    });
    const result = await this.integrations.put(p.tenant, name, {
      provider,
      level: level ?? 'user',
      config: JSON.parse(JSON.stringify(config)),
      clientSecret: client_secret === undefined ? undefined : Secret.of(client_secret),
    });
    res.status(result.created ? 201 : 200);
    return view(result.integration, await this.policyReach(p, result.integration));
  }

  /** The catalog checks parameters and custom entries; plain-http URLs need an allowlisted host. Messages never echo values. */
  private providerSettings(provider: string, config: Omit<PutIntegrationDto, 'provider' | 'level' | 'client_secret'>): Array<{ field: string; message: string }> {
    const errors: Array<{ field: string; message: string }> = [];
    const urls = (['authorize_url', 'token_url', 'revocation_url'] as const).filter((f) => config[f] !== undefined);
    if (provider !== CUSTOM_PROVIDER) {
      for (const f of [...urls, ...(config.provider_options ? ['provider_options'] : [])]) errors.push({ field: f, message: 'is only for custom-oauth2' });
    }
    for (const f of urls) {
      const u = new URL(config[f]!);
      if (u.protocol === 'http:' && !this.outbound.allowsPlainHttp(u.hostname)) errors.push({ field: f, message: 'must be https (plain http only for hosts in OUTBOUND_ALLOW_HOSTS)' });
    }
    if (kindOf(provider) === 'api_key') {
      if (config.params) errors.push({ field: 'params', message: 'is not for api_key integrations' });
      return errors;
    }
    return [...errors, ...this.catalog.check(provider, JSON.parse(JSON.stringify(config)))];
  }

  /** Which configured scopes no policy could ever allow (issue 14): consent will not ask for them. */
  private async policyReach(p: VerifiedToken, i: Integration): Promise<Record<string, unknown>> {
    if (i.kind !== 'oauth2') return {};
    const resolved = this.catalog.resolve(i.provider, i.config, String(i.config.client_id ?? 'client'));
    return { scopes_no_policy_allows: scopesNoPolicyAllows(resolved, await this.decisions.reach(p.tenant, i.name)) };
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { integrations: (await this.integrations.list(p.tenant)).map((i) => view(i)) };
  }

  @Get(':name')
  async get(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    const i = await this.integrations.get(p.tenant, name);
    if (!i) throw new DomainError('integration_not_found', `no integration named "${name}"`);
    return view(i, await this.policyReach(p, i));
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    if (!(await this.integrations.delete(p.tenant, name))) throw new DomainError('integration_not_found', `no integration named "${name}"`);
    await this.audit.record({ tenant: p.tenant, action: 'integration.delete', outcome: 'allowed', integration: name, details: { by: p.subject } });
  }
}
