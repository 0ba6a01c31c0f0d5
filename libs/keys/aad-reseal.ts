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
 * A sealed record as the re-seal batch selects it from any sealed table: the columns are aliased
 * by position (`b0…` the identifying columns, `f0…` the sealed fields, in `SEALED_LAYOUT` order),
 * so one row type serves every table of the layout.
 */
interface SealedRow {
  id: string;
  dek_wrapped: Buffer | null;
  [column: `b${number}`]: string;
  [column: `f${number}`]: Buffer | null;
}

/** A record to re-seal: its reference (owner columns bound) and its sealed fields by field name. */
interface SealedRecordRead {
  ref: RecordRef;
  dekWrapped: Buffer | null;
  fields: Record<string, Buffer | null>;
}

function selectList(table: SealedTable): string {
  const { bind, fields } = columnsOf(table);
  return ['id', 'dek_wrapped', ...bind.map((c, i) => `${c} AS b${i}`), ...fields.map(([, c], i) => `${c} AS f${i}`)].join(', ');
}

/** The one mapper of a `SealedRow`. */
function toSealedRecord(table: SealedTable, tenant: TenantId, r: SealedRow): SealedRecordRead {
  const { bind, fields } = columnsOf(table);
  return {
    ref: { tenant, table, id: r.id, bind: Object.fromEntries(bind.map((c, i) => [c, r[`b${i}`]])) },
    dekWrapped: r.dek_wrapped ?? null,
    fields: Object.fromEntries(fields.map(([f], i) => [f, r[`f${i}`] ?? null])),
  };
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
  const { fields } = columnsOf(o.table);
  return ds.transaction(async (m) => {
    const rows: SealedRow[] = await m.query(
      `SELECT ${selectList(o.table)} FROM ${o.table}
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
    for (const { ref, dekWrapped, fields: sealed } of rows.map((r) => toSealedRecord(o.table, o.tenant, r))) {
      try {
        if (!dekWrapped) throw new KeyUnwrapError();
        const next = await keyring.reseal(ref, dekWrapped, sealed, o.scheme);
        ids.push(ref.id);
        deks.push(dekWrapped);
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
