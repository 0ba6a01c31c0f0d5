import { Injectable } from '@nestjs/common';
import { TenantId } from '../kernel';
import { downscopable, ProviderCatalog } from '../oauth';
import { PolicyDecisionPoint } from '../policy';
import { consentScopes, IntegrationStore } from '../connections';

/**
 * The release's scope-ceiling rule, asked ahead of time by the token service (issue 14): would a
 * connection to `integration`, as consent now asks for it, be releasable under `ceiling`? Either
 * its scopes lie within the ceiling, or the provider can narrow them (and something is left).
 */
@Injectable()
export class ScopeCeilingCheck {
  constructor(
    private readonly integrations: IntegrationStore,
    private readonly catalog: ProviderCatalog,
    private readonly decisions: PolicyDecisionPoint,
  ) {}

  /** The scopes such a connection would hold beyond `ceiling` that no release could leave out: empty when the ceiling can be honoured. */
  async excess(tenant: TenantId, integration: string, ceiling: readonly string[] | null): Promise<string[]> {
    if (!ceiling) return [];
    const i = await this.integrations.get(tenant, integration);
    if (!i || i.kind !== 'oauth2') return [];
    const resolved = this.catalog.resolve(i.provider, i.config, String(i.config.client_id ?? 'client'));
    const held = consentScopes(resolved, await this.decisions.reach(tenant, integration));
    const over = held.filter((s) => !ceiling.includes(s));
    if (!over.length) return [];
    return downscopable(resolved.entry) && held.some((s) => ceiling.includes(s)) ? [] : over;
  }
}
