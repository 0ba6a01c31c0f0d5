import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ensureTenant } from '../db';
import { TenantId } from '../kernel';
import { Policy } from './policy.evaluator';
import { POLICY_COLUMNS as COLUMNS, PolicyRow, toPolicy } from './policy-row';
import { PolicySnapshots } from './policy-snapshots';

/**
 * Policies per tenant. Decided on every release (a policy may change after a token was
 * issued) by PolicyDecisionPoint, from a snapshot that every change invalidates (PolicySnapshots).
 */
@Injectable()
export class PolicyStore {
  constructor(
    private readonly ds: DataSource,
    private readonly snapshots: PolicySnapshots,
  ) {}

  async list(tenant: TenantId): Promise<Policy[]> {
    const rows: PolicyRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM policies WHERE tenant = $1 ORDER BY name`, [tenant]);
    return rows.map(toPolicy);
  }

  /**
   * Whether an integration is registered, and whether its connections are per user or per tenant
   * (undefined: not registered). The release path asks on every call, so it comes with the
   * tenant's policy snapshot; integration writes invalidate it like policy writes (migration 700).
   * Not in the snapshot: read again, so that one registered a moment ago is never refused while
   * its notification is on the way.
   */
  integrationLevel(tenant: TenantId, integration: string): Promise<'user' | 'tenant' | undefined> {
    const level = this.cachedLevel(tenant, integration);
    return level ? Promise.resolve(level) : this.readLevel(tenant, integration);
  }

  /** `integrationLevel`'s answer when the cached snapshot has it, without a promise (the release path); undefined: ask `integrationLevel`. */
  cachedLevel(tenant: TenantId, integration: string): 'user' | 'tenant' | undefined {
    return this.snapshots.cached(tenant)?.integrations.get(integration);
  }

  private async readLevel(tenant: TenantId, integration: string): Promise<'user' | 'tenant' | undefined> {
    return (
      (await this.snapshots.get(tenant)).integrations.get(integration) ??
      (await this.snapshots.get(tenant, true)).integrations.get(integration)
    );
  }

  async put(tenant: TenantId, p: Policy): Promise<{ created: boolean }> {
    await ensureTenant(this.ds, tenant);
    const rows: Array<{ created: boolean }> = await this.ds.query(
      `INSERT INTO policies (tenant, ${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (tenant, name) DO UPDATE SET effect = EXCLUDED.effect, agents = EXCLUDED.agents,
         integrations = EXCLUDED.integrations, scopes = EXCLUDED.scopes, users = EXCLUDED.users,
         max_ttl_seconds = EXCLUDED.max_ttl_seconds,
         require_approval = EXCLUDED.require_approval, approval_ttl_seconds = EXCLUDED.approval_ttl_seconds,
         approvers = EXCLUDED.approvers, require_dpop = EXCLUDED.require_dpop, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [
        tenant,
        p.name,
        p.effect,
        p.agents,
        p.integrations,
        p.scopes,
        JSON.stringify(p.users),
        p.max_ttl_seconds ?? null,
        p.require_approval === true,
        p.approval_ttl_seconds ?? null,
        p.approvers ?? 'user',
        p.require_dpop === true,
      ],
    );
    this.snapshots.changed(tenant);
    return { created: Boolean(rows[0]?.created) };
  }

  async delete(tenant: TenantId, name: string): Promise<boolean> {
    const [, count]: [unknown, number] = await this.ds.query(`DELETE FROM policies WHERE tenant = $1 AND name = $2`, [tenant, name]);
    this.snapshots.changed(tenant);
    return count > 0;
  }
}
