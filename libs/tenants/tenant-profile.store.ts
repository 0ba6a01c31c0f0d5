import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ensureTenant } from '../db';
import { TenantId } from '../kernel';

/** How a tenant presents itself on the pages for people. */
export interface TenantProfile {
  tenant: TenantId;
  /** Null until an admin sets one: pages then show the tenant id. */
  displayName: string | null;
  logoUrl: string | null;
  updatedAt: Date | null;
}

/** The display name and logo columns of `tenants` (the row exists from the tenant's first write). */
@Injectable()
export class TenantProfileStore {
  constructor(private readonly ds: DataSource) {}

  async get(tenant: TenantId): Promise<TenantProfile> {
    const [r]: Array<{ display_name: string | null; logo_url: string | null; profile_updated_at: Date | null }> = await this.ds.query(
      `SELECT display_name, logo_url, profile_updated_at FROM tenants WHERE id = $1`,
      [tenant],
    );
    return { tenant, displayName: r?.display_name ?? null, logoUrl: r?.logo_url ?? null, updatedAt: r?.profile_updated_at ?? null };
  }

  /** Replaces both fields; `created` when the tenant had no profile before. */
  async put(tenant: TenantId, displayName: string, logoUrl: string | null): Promise<{ profile: TenantProfile; created: boolean }> {
    return this.ds.transaction(async (m) => {
      await ensureTenant(m, tenant);
      const [before]: Array<{ at: Date | null }> = await m.query(`SELECT profile_updated_at AS at FROM tenants WHERE id = $1 FOR UPDATE`, [
        tenant,
      ]);
      const [r]: Array<{ at: Date }> = await m.query(
        `UPDATE tenants SET display_name = $2, logo_url = $3, profile_updated_at = now() WHERE id = $1 RETURNING profile_updated_at AS at`,
        [tenant, displayName, logoUrl],
      );
      return { profile: { tenant, displayName, logoUrl, updatedAt: r.at }, created: !before?.at };
    });
  }
}
