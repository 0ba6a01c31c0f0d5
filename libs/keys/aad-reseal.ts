import { DataSource } from 'typeorm';
import { AadScheme, Keyring, KeyUnwrapError, RecordRef, SEALED_LAYOUT, SealedTable } from '../crypto';
import { TenantId } from '../kernel';

export interface ResealBatchResult {
  scanned: number;
  updated: number;
  /** Records whose fields did not open (tampered, relabelled, moved): left as they are. */
  unreadable: RecordRef[];
  /** The last id seen: the next batch of this lane starts after it. */
  cursor: string;
}

function columnsOf(table: SealedTable): { bind: readonly string[]; fields: Array<[string, string]> } {
  const layout = SEALED_LAYOUT[table];
  return { bind: layout.bind, fields: Object.entries(layout.fields) };
}

/**
 * A connection a refresher holds is left for a later pass: its commit seals it anew anyway, and the
 * refresh protocol compares `refresh_token_ct` (rescue, clear) with what it read at its claim.
 */
const NOT_LEASED = ` AND (lease_expires_at IS NULL OR lease_expires_at < now())`;

/** SQL true for a row with any field still under a scheme below `scheme` (its first byte is the old format byte). */
export function olderSchemeWhere(table: SealedTable, scheme: AadScheme): string {
  if (scheme !== 2) throw new Error('only scheme 2 has an older scheme');
  return `(${columnsOf(table)
    .fields.map(([, col]) => `substring(${col} from 1 for 1) = '\\x01'::bytea`)
    .join(' OR ')})`;
}

/**
 * One transaction: locks up to `limit` records of the tenant in the id range that still have a
 * field under an older AAD scheme (`FOR UPDATE SKIP LOCKED`: rows a writer holds are left for a
 * later pass), re-seals every field of each under `scheme` with the record's own DEK (the wrapped
 * DEK and its tenant-key version stay), and writes them back with a compare-and-set on the wrapped
 * DEK. A record that does not open is counted and left as it is.
 */
export async function resealBatch(
  ds: DataSource,
  keyring: Keyring,
  o: { table: SealedTable; tenant: TenantId; after: string; before: string | null; limit: number; scheme: AadScheme },
): Promise<ResealBatchResult> {
  const { bind, fields } = columnsOf(o.table);
  return ds.transaction(async (m) => {
    const rows: Array<Record<string, any>> = await m.query(
      `SELECT id, dek_wrapped, ${[...bind, ...fields.map(([, c]) => c)].join(', ')} FROM ${o.table}
        WHERE tenant = $1 AND id > $2 AND ($3::uuid IS NULL OR id < $3)
          AND ${olderSchemeWhere(o.table, o.scheme)}${o.table === 'connections' ? NOT_LEASED : ''}
        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED`,
      [o.tenant, o.after, o.before, o.limit],
    );
    if (!rows.length) return { scanned: 0, updated: 0, unreadable: [], cursor: o.after };
    const ids: string[] = [];
    const deks: Buffer[] = [];
    const out: Array<Array<Buffer | null>> = fields.map(() => []);
    const unreadable: RecordRef[] = [];
    for (const r of rows) {
      const ref: RecordRef = { tenant: o.tenant, table: o.table, id: r.id, bind: Object.fromEntries(bind.map((b) => [b, r[b]])) };
      try {
        if (!r.dek_wrapped) throw new KeyUnwrapError();
        const next = await keyring.reseal(ref, r.dek_wrapped, Object.fromEntries(fields.map(([f, c]) => [f, r[c]])), o.scheme);
        ids.push(r.id);
        deks.push(r.dek_wrapped);
        fields.forEach(([f], i) => out[i].push(next[f]));
      } catch (err) {
        if (!(err instanceof KeyUnwrapError)) throw err;
        unreadable.push(ref);
      }
    }
    let updated = 0;
    if (ids.length) {
      const sets = fields.map(([, c], i) => `${c} = v.c${i}`).join(', ');
      const cols = fields.map((_, i) => `c${i}`).join(', ');
      const arrays = fields.map((_, i) => `$${i + 4}::bytea[]`).join(', ');
      const [, count] = await m.query(
        `UPDATE ${o.table} AS t SET ${sets}
           FROM unnest($2::uuid[], $3::bytea[], ${arrays}) AS v(id, dek, ${cols})
          WHERE t.tenant = $1 AND t.id = v.id AND t.dek_wrapped = v.dek`,
        [o.tenant, ids, deks, ...out],
      );
      updated = Number(count);
    }
    return { scanned: rows.length, updated, unreadable, cursor: rows[rows.length - 1].id };
  });
}

/** Records of the tenant with a field still under a scheme older than `scheme`. */
export async function countOlderScheme(
  ds: DataSource,
  tenant: string | null,
  scheme: AadScheme,
  tables: readonly SealedTable[],
): Promise<number> {
  const counts = tables.map(
    (t) => `(SELECT count(*) FROM ${t} WHERE ($1::text IS NULL OR tenant = $1) AND ${olderSchemeWhere(t, scheme)})`,
  );
  const [{ n }] = await ds.query(`SELECT ${counts.join(' + ')} AS n`, [tenant]);
  return Number(n);
}
