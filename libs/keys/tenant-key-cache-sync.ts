import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AadScheme, Keyring } from '../crypto';

/** Look back this far past the last sync: a destroying transaction may commit after its own `now()`. */
const OVERLAP = '1 minute';

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
  ) {}

  /** Evicts keys destroyed since the last call; returns how many were seen. */
  async sync(): Promise<number> {
    const [{ now }] = await this.ds.query(`SELECT now() AS now`);
    const since = this.since ?? now;
    const rows: Array<{ tenant: string; version: number }> = await this.ds.query(
      `SELECT tenant, version FROM tenant_keys WHERE destroyed_at > $1::timestamptz - interval '${OVERLAP}'`,
      [since],
    );
    for (const r of rows) this.keyring.forgetTenantKeys(r.tenant, Number(r.version));
    // A re-seal job elsewhere finished a tenant: refuse its old AAD scheme here too.
    const raised: Array<{ id: string; aad_scheme: number }> = await this.ds.query(
      `SELECT id, aad_scheme FROM tenants WHERE aad_scheme_raised_at > $1::timestamptz - interval '${OVERLAP}'`,
      [since],
    );
    for (const t of raised) this.keyring.raiseAadSchemeFloor(t.id, Number(t.aad_scheme) as AadScheme);
    this.since = now;
    return rows.length + raised.length;
  }
}
