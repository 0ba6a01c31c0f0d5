import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { DomainError, TenantId } from '../kernel';
import { displayNameProblem, logoUrlProblem } from './tenant-profile-rules';
import { TenantProfile, TenantProfileStore } from './tenant-profile.store';

export interface TenantProfileInput {
  display_name: string;
  logo_url?: string | null;
}

function invalid(field: keyof TenantProfileInput, message: string): DomainError {
  return new DomainError('validation_failed', `Invalid request: ${field} ${message}`, { extra: { errors: [{ field, message }] } });
}

/**
 * `PUT/GET /v1/admin/tenant` (issue 20 item 3): the name and logo the consent and account pages
 * show for the tenant. Both are checked before they are stored (`tenant-profile-rules.ts`); each
 * change is audited as `tenant.configure` with the name and the logo's host.
 */
@Injectable()
export class TenantProfileService {
  constructor(
    private readonly store: TenantProfileStore,
    private readonly audit: AuditLog,
  ) {}

  async put(tenant: TenantId, by: string, input: TenantProfileInput): Promise<{ profile: TenantProfile; created: boolean }> {
    const nameProblem = displayNameProblem(input.display_name);
    if (nameProblem) throw invalid('display_name', nameProblem);
    let logo: string | null = null;
    if (input.logo_url !== undefined && input.logo_url !== null) {
      const logoProblem = logoUrlProblem(input.logo_url);
      if (logoProblem) throw invalid('logo_url', logoProblem);
      logo = new URL(input.logo_url).href;
    }
    const r = await this.store.put(tenant, input.display_name.trim(), logo);
    await this.audit.record({
      tenant,
      action: 'tenant.configure',
      outcome: 'allowed',
      // `target` names what changed on the dashboard's list of admin changes.
      details: {
        target: 'profile',
        display_name: r.profile.displayName,
        logo_host: logo ? new URL(logo).host : null,
        created: r.created,
        by,
      },
    });
    return r;
  }

  /** The profile as pages use it: the display name falls back to the tenant id. */
  async shown(tenant: TenantId): Promise<{ name: string; logoUrl: string | null }> {
    const p = await this.store.get(tenant);
    return { name: p.displayName ?? tenant, logoUrl: p.logoUrl };
  }

  async get(tenant: TenantId): Promise<TenantProfile> {
    return this.store.get(tenant);
  }
}
