import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Keyring } from '../crypto';

/** Look back this far past the last sync: a destroying transaction may commit after its own `now()`. */
const OVERLAP = '1 minute';

/**
 * Every process caches unwrapped tenant keys. When another process destroys one (retirement,
 * crypto-shredding), this drops it here too, within one sync interval: Postgres is the only
 * channel between processes (DESIGN.md), so the sync polls `tenant_keys.destroyed_at`.
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
    this.since = now;
    return rows.length;
  }
}
