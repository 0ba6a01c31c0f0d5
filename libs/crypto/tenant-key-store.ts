import { DataSource } from 'typeorm';
import { TenantId } from '../kernel';

export interface TenantKeyRow {
  tenant: string;
  version: number;
  kek_key_id: string;
  wrapped: Buffer;
  status: 'active' | 'decrypt_only' | 'destroyed';
}

/** SQL for tenant keys. Every method takes the tenant. */
export class TenantKeyStore {
  constructor(private readonly ds: DataSource) {}

  async active(tenant: TenantId): Promise<TenantKeyRow | undefined> {
    const rows = await this.ds.query(
      `SELECT tenant, version, kek_key_id, wrapped, status FROM tenant_keys WHERE tenant = $1 AND status = 'active'`,
      [tenant],
    );
    return rows[0];
  }

  async byVersion(
    tenant: TenantId,
    version: number,
  ): Promise<(TenantKeyRow & { min_key_version: number; aad_scheme: number }) | undefined> {
    const rows = await this.ds.query(
      `SELECT k.tenant, k.version, k.kek_key_id, k.wrapped, k.status, t.min_key_version, t.aad_scheme
         FROM tenant_keys k JOIN tenants t ON t.id = k.tenant
        WHERE k.tenant = $1 AND k.version = $2`,
      [tenant, version],
    );
    return rows[0];
  }

  /**
   * The version a tenant's next TK gets: 1 for a new tenant; after crypto-shredding, past every
   * destroyed version and the minimum decryption version.
   */
  async nextVersion(tenant: TenantId): Promise<number> {
    const [{ next }] = await this.ds.query(
      `SELECT GREATEST(COALESCE((SELECT MAX(version) FROM tenant_keys WHERE tenant = $1), 0) + 1,
                       COALESCE((SELECT min_key_version FROM tenants WHERE id = $1), 1)) AS next`,
      [tenant],
    );
    return Number(next);
  }

  /** Inserts a tenant's TK when it has no active one (first use, or after shredding); loses gracefully to a concurrent creator. */
  async createFirst(tenant: TenantId, version: number, kekKeyId: string, wrapped: Buffer): Promise<void> {
    await this.ds.transaction(async (m) => {
      await m.query(`INSERT INTO tenants (id) VALUES ($1) ON CONFLICT DO NOTHING`, [tenant]);
      await m.query(
        `INSERT INTO tenant_keys (tenant, version, kek_key_id, wrapped, status)
         SELECT $1, $2, $3, $4, 'active' WHERE NOT EXISTS (SELECT 1 FROM tenant_keys WHERE tenant = $1 AND status = 'active')
         ON CONFLICT DO NOTHING`,
        [tenant, version, kekKeyId, wrapped],
      );
    });
  }

  /** Counts one more encryption under a TK (nonce budget, invariant 4); returns the new count. */
  async countEncryption(tenant: TenantId, version: number): Promise<number> {
    const rows = await this.ds.query(
      `UPDATE tenant_keys SET encryptions = encryptions + 1 WHERE tenant = $1 AND version = $2 RETURNING encryptions`,
      [tenant, version],
    );
    return Number(rows[0]?.[0]?.encryptions ?? rows[0]?.encryptions ?? 0);
  }

  /** Adds a new active version; the previous active one becomes decrypt-only. */
  async addVersion(tenant: TenantId, kekKeyId: string, wrapped: Buffer): Promise<number> {
    return this.ds.transaction(async (m) => {
      await m.query(`SELECT id FROM tenants WHERE id = $1 FOR UPDATE`, [tenant]);
      const [{ next }] = await m.query(`SELECT COALESCE(MAX(version), 0) + 1 AS next FROM tenant_keys WHERE tenant = $1`, [tenant]);
      await m.query(`UPDATE tenant_keys SET status = 'decrypt_only' WHERE tenant = $1 AND status = 'active'`, [tenant]);
      await m.query(`INSERT INTO tenant_keys (tenant, version, kek_key_id, wrapped, status) VALUES ($1, $2, $3, $4, 'active')`, [
        tenant,
        next,
        kekKeyId,
        wrapped,
      ]);
      return Number(next);
    });
  }
}
