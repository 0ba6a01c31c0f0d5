import { DataSource, EntityManager } from 'typeorm';
import { TenantId } from '../kernel';
import type { WrappedKey } from './key-provider';

export type TenantKeyStatus = 'active' | 'decrypt_only' | 'destroyed';

/** A tenant key (TK) version as stored: wrapped by the KEK, never unwrapped here. */
export interface TenantKey {
  tenant: string;
  version: number;
  kekKeyId: string;
  /** KEK-wrapped bytes; empty once destroyed. */
  wrapped: Buffer;
  status: TenantKeyStatus;
  /** Encryptions under this version so far (the nonce budget, invariant 4). */
  encryptions: number;
  createdAt: Date;
  destroyedAt: Date | null;
}

/** The key state a tenant row carries (`tenants`: the minimum decryption version, AAD scheme, shredding). */
export interface TenantKeyState {
  tenant: string;
  minKeyVersion: number;
  aadScheme: number;
  shreddedAt: Date | null;
}

/** A `tenant_keys` row: the one row type of the table; `encryptions` (bigint) comes back as text. */
interface TenantKeyRow {
  tenant: string;
  version: number;
  kek_key_id: string;
  wrapped: Buffer;
  status: TenantKeyStatus;
  encryptions: string | number;
  created_at: Date;
  destroyed_at: Date | null;
}

const COLUMNS = 'tenant, version, kek_key_id, wrapped, status, encryptions, created_at, destroyed_at';

/** The one mapper of a `tenant_keys` row. */
function toTenantKey(r: TenantKeyRow): TenantKey {
  return {
    tenant: r.tenant,
    version: Number(r.version),
    kekKeyId: r.kek_key_id,
    wrapped: r.wrapped,
    status: r.status,
    encryptions: Number(r.encryptions),
    createdAt: r.created_at,
    destroyedAt: r.destroyed_at ?? null,
  };
}

/** Something to query with: the DataSource, or a transaction's EntityManager. */
type Db = Pick<DataSource | EntityManager, 'query'>;

/** A TypeORM UPDATE … RETURNING: the rows and the count. */
type Returned<R> = [R[], number];

const versionsOf = (rows: Array<{ version: number }>) => rows.map((r) => Number(r.version)).sort((a, b) => a - b);

/**
 * All SQL of `tenant_keys` (and the key state columns of `tenants` it is read with). Every method
 * takes the tenant, except the vault-wide ones the KEK rotation and key status need. Methods that
 * run inside a caller's transaction take its EntityManager.
 */
export class TenantKeyStore {
  constructor(private readonly ds: DataSource) {}

  async active(tenant: TenantId): Promise<TenantKey | undefined> {
    const rows: TenantKeyRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM tenant_keys WHERE tenant = $1 AND status = 'active'`, [
      tenant,
    ]);
    return rows[0] ? toTenantKey(rows[0]) : undefined;
  }

  /** The active version, if any (`db`: inside a caller's transaction). */
  async activeVersion(tenant: TenantId, db: Db = this.ds): Promise<number | undefined> {
    const rows: Array<{ version: number }> = await db.query(`SELECT version FROM tenant_keys WHERE tenant = $1 AND status = 'active'`, [
      tenant,
    ]);
    return rows[0] ? Number(rows[0].version) : undefined;
  }

  /** One version, with the tenant's minimum decryption version and AAD scheme (one round trip on a cache miss). */
  async byVersion(tenant: TenantId, version: number): Promise<{ key: TenantKey; minKeyVersion: number; aadScheme: number } | undefined> {
    const rows: Array<TenantKeyRow & { min_key_version: number; aad_scheme: number }> = await this.ds.query(
      `SELECT ${COLUMNS.split(', ')
        .map((c) => `k.${c}`)
        .join(', ')}, t.min_key_version, t.aad_scheme
         FROM tenant_keys k JOIN tenants t ON t.id = k.tenant
        WHERE k.tenant = $1 AND k.version = $2`,
      [tenant, version],
    );
    const r = rows[0];
    return r ? { key: toTenantKey(r), minKeyVersion: Number(r.min_key_version), aadScheme: Number(r.aad_scheme) } : undefined;
  }

  /** The highest version the tenant ever had (destroyed ones included), 0 for none. */
  async latestVersion(tenant: TenantId, db: Db = this.ds): Promise<number> {
    const [{ latest }] = await db.query(`SELECT COALESCE(MAX(version), 0) AS latest FROM tenant_keys WHERE tenant = $1`, [tenant]);
    return Number(latest);
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
      await this.lockTenant(m, tenant);
      const next = (await this.latestVersion(tenant, m)) + 1;
      await m.query(`UPDATE tenant_keys SET status = 'decrypt_only' WHERE tenant = $1 AND status = 'active'`, [tenant]);
      await m.query(`INSERT INTO tenant_keys (tenant, version, kek_key_id, wrapped, status) VALUES ($1, $2, $3, $4, 'active')`, [
        tenant,
        next,
        kekKeyId,
        wrapped,
      ]);
      return next;
    });
  }

  /** Destroys (zeroes the wrapped copy of) every live version below `minVersion`, in the caller's transaction. */
  async destroyBelow(m: EntityManager, tenant: TenantId, minVersion: number): Promise<number[]> {
    const [rows]: Returned<{ version: number }> = await m.query(
      `UPDATE tenant_keys SET status = 'destroyed', wrapped = '\\x', destroyed_at = now()
        WHERE tenant = $1 AND version < $2 AND status <> 'destroyed' RETURNING version`,
      [tenant, minVersion],
    );
    return versionsOf(rows);
  }

  /** Destroys every live version of the tenant (crypto-shredding), in the caller's transaction. */
  async destroyAll(m: EntityManager, tenant: TenantId): Promise<number[]> {
    const [rows]: Returned<{ version: number }> = await m.query(
      `UPDATE tenant_keys SET status = 'destroyed', wrapped = '\\x', destroyed_at = now()
        WHERE tenant = $1 AND status <> 'destroyed' RETURNING version`,
      [tenant],
    );
    return versionsOf(rows);
  }

  /** Live versions below `below` (the rotation job warms them before moving records off them). */
  async liveVersionsBelow(tenant: TenantId, below: number): Promise<number[]> {
    const rows: Array<{ version: number }> = await this.ds.query(
      `SELECT version FROM tenant_keys WHERE tenant = $1 AND version < $2 AND status <> 'destroyed'`,
      [tenant, below],
    );
    return versionsOf(rows);
  }

  /** Versions destroyed after `since` (minus `overlapSeconds`: a destroying transaction may commit after its own `now()`). */
  async destroyedSince(since: Date, overlapSeconds: number): Promise<Array<{ tenant: string; version: number }>> {
    const rows: Array<{ tenant: string; version: number }> = await this.ds.query(
      `SELECT tenant, version FROM tenant_keys WHERE destroyed_at > $1::timestamptz - make_interval(secs => $2)`,
      [since, overlapSeconds],
    );
    return rows.map((r) => ({ tenant: r.tenant, version: Number(r.version) }));
  }

  /** Tenants with an active key, by name. */
  async tenantsWithActiveKey(): Promise<string[]> {
    const rows: Array<{ tenant: string }> = await this.ds.query(`SELECT tenant FROM tenant_keys WHERE status = 'active' ORDER BY tenant`);
    return rows.map((r) => r.tenant);
  }

  /** Tenants whose active key is older than `days`, oldest first, leaving out `except`. */
  async activeOlderThan(days: number, limit: number, except: string[]): Promise<string[]> {
    const rows: Array<{ tenant: string }> = await this.ds.query(
      `SELECT tenant FROM tenant_keys
        WHERE status = 'active' AND created_at < now() - make_interval(days => $1) AND NOT (tenant = ANY($2))
        ORDER BY created_at LIMIT $3`,
      [days, except, limit],
    );
    return rows.map((r) => r.tenant);
  }

  /** Every version of these tenants, by tenant and version. */
  async forTenants(tenants: string[]): Promise<TenantKey[]> {
    const rows: TenantKeyRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM tenant_keys WHERE tenant = ANY($1) ORDER BY tenant, version`, [
      tenants,
    ]);
    return rows.map(toTenantKey);
  }

  /** Live keys per KEK version (one tenant's, or every tenant's). */
  async countByKek(tenant?: string): Promise<Array<{ kekKeyId: string; keys: number }>> {
    const rows: Array<{ kek_key_id: string; n: string }> = await this.ds.query(
      `SELECT kek_key_id, count(*) AS n FROM tenant_keys WHERE status <> 'destroyed' AND ($1::text IS NULL OR tenant = $1)
        GROUP BY kek_key_id ORDER BY kek_key_id`,
      [tenant ?? null],
    );
    return rows.map((r) => ({ kekKeyId: r.kek_key_id, keys: Number(r.n) }));
  }

  /**
   * The key state of one tenant, or (no `tenant`) of the tenants with the most live keys first,
   * up to `limit`, and how many tenants there are in all.
   */
  async keyStates(tenant: string | undefined, limit: number): Promise<{ count: number; list: TenantKeyState[] }> {
    const [{ n }] = await this.ds.query(`SELECT count(*) AS n FROM tenants WHERE $1::text IS NULL OR id = $1`, [tenant ?? null]);
    const rows: Array<{ id: string; min_key_version: number; shredded_at: Date | null; aad_scheme: number }> = await this.ds.query(
      `SELECT t.id, t.min_key_version, t.shredded_at, t.aad_scheme FROM tenants t
        WHERE $1::text IS NULL OR t.id = $1
        ORDER BY (SELECT count(*) FROM tenant_keys k WHERE k.tenant = t.id AND k.status <> 'destroyed') DESC, t.id
        LIMIT $2`,
      [tenant ?? null, limit],
    );
    const list = rows.map((r) => ({
      tenant: r.id,
      minKeyVersion: Number(r.min_key_version),
      aadScheme: Number(r.aad_scheme),
      shreddedAt: r.shredded_at ?? null,
    }));
    return { count: Number(n), list };
  }

  /** Locks the tenant's row for the caller's transaction (`create`: making it first): key changes of one tenant go one at a time. */
  async lockTenant(m: EntityManager, tenant: TenantId, opts: { create?: boolean } = {}): Promise<void> {
    if (opts.create) await m.query(`INSERT INTO tenants (id) VALUES ($1) ON CONFLICT DO NOTHING`, [tenant]);
    await m.query(`SELECT id FROM tenants WHERE id = $1 FOR UPDATE`, [tenant]);
  }

  /** Ciphertexts naming a version below `minVersion` are refused from now on (never lowered). */
  async raiseMinVersion(m: EntityManager, tenant: TenantId, minVersion: number): Promise<void> {
    await m.query(`UPDATE tenants SET min_key_version = GREATEST(min_key_version, $2) WHERE id = $1`, [tenant, minVersion]);
  }

  /** Marks the tenant crypto-shredded, with every version up to `minVersion - 1` refused. */
  async markShredded(m: EntityManager, tenant: TenantId, minVersion: number): Promise<void> {
    await m.query(`UPDATE tenants SET shredded_at = now(), min_key_version = GREATEST(min_key_version, $2) WHERE id = $1`, [
      tenant,
      minVersion,
    ]);
  }

  /** Whether the tenant exists (has ever had a key or a record). */
  async tenantExists(tenant: string): Promise<boolean> {
    return (await this.ds.query(`SELECT 1 FROM tenants WHERE id = $1`, [tenant])).length > 0;
  }

  /** Tenants still opening an AAD scheme older than `scheme`, by id. */
  async tenantsBelowAadScheme(scheme: number): Promise<TenantId[]> {
    const rows: Array<{ id: TenantId }> = await this.ds.query(`SELECT id FROM tenants WHERE aad_scheme < $1 ORDER BY id`, [scheme]);
    return rows.map((r) => r.id);
  }

  /** Whether any tenant still opens an AAD scheme older than `scheme`. */
  async anyBelowAadScheme(scheme: number): Promise<boolean> {
    const [{ pending }] = await this.ds.query(`SELECT EXISTS (SELECT 1 FROM tenants WHERE aad_scheme < $1) AS pending`, [scheme]);
    return Boolean(pending);
  }

  /** From now on the tenant refuses AAD schemes older than `scheme` (never lowered). */
  async raiseAadScheme(tenant: TenantId, scheme: number): Promise<void> {
    await this.ds.query(`UPDATE tenants SET aad_scheme = $2, aad_scheme_raised_at = now() WHERE id = $1 AND aad_scheme < $2`, [
      tenant,
      scheme,
    ]);
  }

  /** AAD schemes raised after `since` (minus `overlapSeconds`), for other processes to follow. */
  async aadSchemesRaisedSince(since: Date, overlapSeconds: number): Promise<Array<{ tenant: string; aadScheme: number }>> {
    const rows: Array<{ id: string; aad_scheme: number }> = await this.ds.query(
      `SELECT id, aad_scheme FROM tenants WHERE aad_scheme_raised_at > $1::timestamptz - make_interval(secs => $2)`,
      [since, overlapSeconds],
    );
    return rows.map((r) => ({ tenant: r.id, aadScheme: Number(r.aad_scheme) }));
  }

  /** Live keys under another KEK version than `kekKeyId`, after `after` (tenant, version), in that order. */
  async notUnderKek(kekKeyId: string, after: [string, number], limit: number): Promise<TenantKey[]> {
    const rows: TenantKeyRow[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM tenant_keys
        WHERE kek_key_id <> $1 AND status <> 'destroyed' AND (tenant, version) > ($2, $3)
        ORDER BY tenant, version LIMIT $4`,
      [kekKeyId, after[0], after[1], limit],
    );
    return rows.map(toTenantKey);
  }

  /** How many live keys are under another KEK version than `kekKeyId`. */
  async countNotUnderKek(kekKeyId: string): Promise<number> {
    const [{ n }] = await this.ds.query(`SELECT count(*) AS n FROM tenant_keys WHERE kek_key_id <> $1 AND status <> 'destroyed'`, [
      kekKeyId,
    ]);
    return Number(n);
  }

  /** Replaces a key's wrapping if it is still the one read (compare-and-set) and the key is not destroyed. */
  async replaceWrapping(key: Pick<TenantKey, 'tenant' | 'version' | 'kekKeyId' | 'wrapped'>, next: WrappedKey): Promise<void> {
    await this.ds.query(
      `UPDATE tenant_keys SET kek_key_id = $1, wrapped = $2
        WHERE tenant = $3 AND version = $4 AND kek_key_id = $5 AND wrapped = $6 AND status <> 'destroyed'`,
      [next.keyId, next.wrapped, key.tenant, key.version, key.kekKeyId, key.wrapped],
    );
  }
}
