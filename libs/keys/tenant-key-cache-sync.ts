import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AadScheme, Keyring, TenantKeyStore } from '../crypto';

/** Look back this far past the last sync: a destroying transaction may commit after its own `now()`. */
const OVERLAP_SECONDS = 60;

/**
 * Every process caches unwrapped tenant keys. When another process destroys one (retirement,
 * crypto-shredding), this drops it here too, within one sync interval: Postgres is the only
 * channel between processes (DESIGN.md), so the sync polls `tenant_keys.destroyed_at` (and
 * `tenants.aad_scheme_raised_at`, to refuse an old AAD scheme as soon as a re-seal finished).
 */
@Injectable()
export class TenantKeyCacheSync {
  private since?: Date;

  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
    private readonly tenantKeys: TenantKeyStore,
  ) {}

  /** Evicts keys destroyed since the last call; returns how many were seen. */
  async sync(): Promise<number> {
    const [{ now }] = await this.ds.query(`SELECT now() AS now`);
    const since = this.since ?? now;
    const rows = await this.tenantKeys.destroyedSince(since, OVERLAP_SECONDS);
    for (const r of rows) this.keyring.forgetTenantKeys(r.tenant, r.version);
    // A re-seal job elsewhere finished a tenant: refuse its old AAD scheme here too.
    const raised = await this.tenantKeys.aadSchemesRaisedSince(since, OVERLAP_SECONDS);
    for (const t of raised) this.keyring.raiseAadSchemeFloor(t.tenant, t.aadScheme as AadScheme);
    this.since = now;
    return rows.length + raised.length;
  }
}
