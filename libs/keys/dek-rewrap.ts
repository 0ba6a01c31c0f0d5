import { DataSource } from 'typeorm';
import { Keyring, KeyUnwrapError, SEALED_TABLES, SealedTable } from '../crypto';
import { TenantId } from '../kernel';

export interface RewrapBatchResult {
  scanned: number;
  updated: number;
  failed: number;
  /** The last id seen: the next batch of this lane starts after it. */
  cursor: string;
}

/**
 * Splits the uuid space into `lanes` ranges `[after, before)` that batches can work through
 * side by side. No v4 uuid equals a bound (their third group starts with 4), so "after" is exact.
 */
export function uuidLanes(lanes: number): Array<{ after: string; before: string | null }> {
  const bound = (i: number) =>
    `${Math.floor((i * 0x1_0000_0000) / lanes)
      .toString(16)
      .padStart(8, '0')}-0000-0000-0000-000000000000`;
  return Array.from({ length: lanes }, (_, i) => ({ after: bound(i), before: i + 1 < lanes ? bound(i + 1) : null }));
}

/**
 * One transaction: locks up to `limit` records of the tenant under TK `version` in the id range
 * (`FOR UPDATE SKIP LOCKED`: rows a writer holds are left for a later pass), rewraps their DEKs
 * in memory onto `target` (field ciphertexts are not touched), and writes each back with a
 * compare-and-set on its old `dek_wrapped`, so a writer that got in first wins. A DEK that does
 * not unwrap is counted and left as it is.
 */
export async function rewrapDekBatch(
  ds: DataSource,
  keyring: Keyring,
  o: {
    table: SealedTable;
    tenant: TenantId;
    version: number;
    after: string;
    before: string | null;
    limit: number;
    target: { version: number; key: Buffer };
  },
): Promise<RewrapBatchResult> {
  return ds.transaction(async (m) => {
    const rows: Array<{ id: string; dek_wrapped: Buffer }> = await m.query(
      `SELECT id, dek_wrapped FROM ${o.table}
        WHERE tenant = $1 AND tk_version = $2 AND id > $3 AND ($4::uuid IS NULL OR id < $4)
        ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED`,
      [o.tenant, o.version, o.after, o.before, o.limit],
    );
    if (!rows.length) return { scanned: 0, updated: 0, failed: 0, cursor: o.after };
    const ids: string[] = [];
    const olds: Buffer[] = [];
    const news: Buffer[] = [];
    let failed = 0;
    for (const r of rows) {
      try {
        const next = await keyring.rewrapDek({ tenant: o.tenant, table: o.table, id: r.id }, r.dek_wrapped, o.target);
        ids.push(r.id);
        olds.push(r.dek_wrapped);
        news.push(next.dekWrapped);
      } catch (err) {
        if (!(err instanceof KeyUnwrapError)) throw err;
        failed++;
      }
    }
    let updated = 0;
    if (ids.length) {
      const [, count] = await m.query(
        `UPDATE ${o.table} AS t SET dek_wrapped = v.dek, tk_version = $2
           FROM unnest($3::uuid[], $4::bytea[], $5::bytea[]) AS v(id, old, dek)
          WHERE t.tenant = $1 AND t.id = v.id AND t.dek_wrapped = v.old`,
        [o.tenant, o.target.version, ids, olds, news],
      );
      updated = Number(count);
    }
    return { scanned: rows.length, updated, failed, cursor: rows[rows.length - 1].id };
  });
}

/** The TK versions below `below` that records of the table still name (a loose index scan: cheap however many rows). */
export async function versionsBelow(ds: DataSource, table: SealedTable, tenant: TenantId, below: number): Promise<number[]> {
  const rows: Array<{ v: number }> = await ds.query(
    `WITH RECURSIVE vs AS (
       SELECT (SELECT min(tk_version) FROM ${table} WHERE tenant = $1 AND tk_version < $2) AS v
       UNION ALL
       SELECT (SELECT min(tk_version) FROM ${table} WHERE tenant = $1 AND tk_version > vs.v AND tk_version < $2) FROM vs
         WHERE vs.v IS NOT NULL
     ) SELECT v FROM vs WHERE v IS NOT NULL`,
    [tenant, below],
  );
  return rows.map((r) => Number(r.v));
}

/** Records of the tenant still under a TK version below `below`. */
export async function countBelow(ds: DataSource, tenant: TenantId, below: number): Promise<number> {
  const [{ n }] = await ds.query(
    `SELECT ${SEALED_TABLES.map((t) => `(SELECT count(*) FROM ${t} WHERE tenant = $1 AND tk_version < $2)`).join(' + ')} AS n`,
    [tenant, below],
  );
  return Number(n);
}
