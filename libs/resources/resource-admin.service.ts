import { Inject, Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { AdminActor, DomainError } from '../kernel';
import { Resource, ResourceInput, toResource } from './resource';
import { ResourceStore } from './resource.store';

/** The admin use cases on a tenant's resources (`/v1/admin/resources`), each audited. */
@Injectable()
export class ResourceAdminService {
  private readonly vaultTargets: string[];

  constructor(
    private readonly resources: ResourceStore,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) config: VaultConfig,
  ) {
    this.vaultTargets = [config.audience, config.publicUrl];
  }

  async put(actor: AdminActor, name: string, input: ResourceInput): Promise<{ resource: Resource; created: boolean }> {
    const resource = toResource(name, input, this.vaultTargets);
    // Audited before it takes effect (fail closed): which scopes map to which roles is the policy itself.
    await this.audit.record({
      tenant: actor.tenant,
      action: 'resource.put',
      outcome: 'allowed',
      details: {
        resource: name,
        by: actor.subject,
        identifier: resource.identifier,
        // A list, not a map: scope names are the admin's text and must not become audit keys.
        scopes: Object.entries(resource.scopes).map(([scope, v]) => ({
          scope,
          roles_any: v.roles_any,
          require_approval: v.require_approval,
        })),
        agents: resource.agents,
        ttl_seconds: resource.token_ttl_seconds,
      },
    });
    const { created } = await this.resources.put(actor.tenant, resource);
    return { resource, created };
  }

  async get(actor: AdminActor, name: string): Promise<Resource> {
    const r = await this.resources.get(actor.tenant, name);
    if (!r) throw new DomainError('not_found', `no resource "${name}"`);
    return r;
  }

  list(actor: AdminActor): Promise<Resource[]> {
    return this.resources.list(actor.tenant);
  }

  async remove(actor: AdminActor, name: string): Promise<void> {
    // Takes access away: done first, audited after (a 503 if the audit log cannot take it).
    if (!(await this.resources.delete(actor.tenant, name))) throw new DomainError('not_found', `no resource "${name}"`);
    await this.audit.record({
      tenant: actor.tenant,
      action: 'resource.delete',
      outcome: 'allowed',
      details: { resource: name, by: actor.subject },
    });
  }
}
