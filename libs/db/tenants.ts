import { DataSource, EntityManager } from 'typeorm';

/** Tenants come into being on first write; every tenant-owned row references one. */
export async function ensureTenant(db: DataSource | EntityManager, tenant: string): Promise<void> {
  await db.query(`INSERT INTO tenants (id) VALUES ($1) ON CONFLICT DO NOTHING`, [tenant]);
}
