import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { AdminActor, DomainError, Secret } from '../kernel';
import { CUSTOM_PROVIDER, OutboundPolicy, ProviderCatalog } from '../oauth';
import { PolicyDecisionPoint } from '../policy';
import { scopesNoPolicyAllows } from './consent-scopes';
import { Integration, IntegrationStore } from './integration.store';
import { kindOf } from './providers';

/** An integration as the admin API takes it (CONTRACT.md `PUT /v1/admin/integrations/{name}`). */
export interface IntegrationSettings {
  provider: string;
  level?: 'user' | 'tenant';
  display_name?: string;
  client_id?: string;
  /** Write-only: sealed by the store, audited only as "set". */
  client_secret?: string;
  scopes?: string[];
  authorize_url?: string;
  token_url?: string;
  revocation_url?: string;
  params?: Record<string, string>;
  provider_options?: Record<string, unknown>;
  return_urls?: string[];
  api_key?: { header_name?: string; prefix?: string; validation_url?: string };
}

/** An integration with, for OAuth ones, the configured scopes no policy could ever allow (issue 14: consent will not ask for them). */
export interface IntegrationReport {
  integration: Integration;
  scopesNoPolicyAllows?: string[];
}

type FieldError = { field: string; message: string };

/** The admin use cases on a tenant's integrations, each audited; settings checked before anything is written. */
@Injectable()
export class IntegrationAdminService {
  constructor(
    private readonly integrations: IntegrationStore,
    private readonly catalog: ProviderCatalog,
    private readonly outbound: OutboundPolicy,
    private readonly audit: AuditLog,
    private readonly decisions: PolicyDecisionPoint,
  ) {}

  async put(actor: AdminActor, name: string, input: IntegrationSettings): Promise<IntegrationReport & { created: boolean }> {
    const { provider, level, client_secret, ...config } = input;
    if (kindOf(provider) === 'api_key' && (client_secret || config.client_id)) {
      throw new DomainError('validation_failed', 'api_key integrations take no client_id or client_secret', {
        extra: { errors: [{ field: 'client_secret', message: 'not allowed for api_key' }] },
      });
    }
    const errors = this.providerSettings(provider, config);
    if (errors.length)
      throw new DomainError('validation_failed', `Invalid provider settings: ${[...new Set(errors.map((e) => e.field))].join(', ')}`, {
        extra: { errors },
      });
    // Audited before it is stored (fail closed); the client secret only as "set" (audit keys may not name a secret), never its value.
    await this.audit.record({
      tenant: actor.tenant,
      action: 'integration.put',
      outcome: 'allowed',
      integration: name,
      details: {
        by: actor.subject,
        provider,
        level: level ?? 'user',
        settings: Object.keys(config)
          .filter((k) => config[k as keyof typeof config] !== undefined)
          .sort(),
        client_credential_set: client_secret !== undefined,
      },
    });
    const result = await this.integrations.put(actor.tenant, name, {
      provider,
      level: level ?? 'user',
      config: JSON.parse(JSON.stringify(config)),
      clientSecret: client_secret === undefined ? undefined : Secret.of(client_secret),
    });
    return { created: result.created, ...(await this.report(actor, result.integration)) };
  }

  list(actor: AdminActor): Promise<Integration[]> {
    return this.integrations.list(actor.tenant);
  }

  async get(actor: AdminActor, name: string): Promise<IntegrationReport> {
    const i = await this.integrations.get(actor.tenant, name);
    if (!i) throw new DomainError('integration_not_found', `no integration named "${name}"`);
    return this.report(actor, i);
  }

  async remove(actor: AdminActor, name: string): Promise<void> {
    if (!(await this.integrations.delete(actor.tenant, name)))
      throw new DomainError('integration_not_found', `no integration named "${name}"`);
    await this.audit.record({
      tenant: actor.tenant,
      action: 'integration.delete',
      outcome: 'allowed',
      integration: name,
      details: { by: actor.subject },
    });
  }

  /** The catalog checks parameters and custom entries; plain-http URLs need an allowlisted host. Messages never echo values. */
  private providerSettings(provider: string, config: Omit<IntegrationSettings, 'provider' | 'level' | 'client_secret'>): FieldError[] {
    const errors: FieldError[] = [];
    const urls = (['authorize_url', 'token_url', 'revocation_url'] as const).filter((f) => config[f] !== undefined);
    if (provider !== CUSTOM_PROVIDER) {
      for (const f of [...urls, ...(config.provider_options ? ['provider_options'] : [])])
        errors.push({ field: f, message: 'is only for custom-oauth2' });
    }
    for (const f of urls) {
      const u = new URL(config[f]!);
      if (u.protocol === 'http:' && !this.outbound.allowsPlainHttp(u.hostname))
        errors.push({ field: f, message: 'must be https (plain http only for hosts in OUTBOUND_ALLOW_HOSTS)' });
    }
    if (kindOf(provider) === 'api_key') {
      if (config.params) errors.push({ field: 'params', message: 'is not for api_key integrations' });
      return errors;
    }
    return [...errors, ...this.catalog.check(provider, JSON.parse(JSON.stringify(config)))];
  }

  private async report(actor: AdminActor, i: Integration): Promise<IntegrationReport> {
    if (i.kind !== 'oauth2') return { integration: i };
    const resolved = this.catalog.resolve(i.provider, i.config, String(i.config.client_id ?? 'client'));
    return { integration: i, scopesNoPolicyAllows: scopesNoPolicyAllows(resolved, await this.decisions.reach(actor.tenant, i.name)) };
  }
}
