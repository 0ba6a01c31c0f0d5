/** Something to run a query on: the DataSource, a transaction's EntityManager or a QueryRunner. */
interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/** The `audit_chain_head` row: the last event's seq (bigint as text) and hash. */
export interface ChainHead {
  seq: string;
  hash: Buffer;
}

/** The chain's head, or undefined before the first event (for other libs: the anchor job signs it). */
export async function chainHead(db: Queryable): Promise<ChainHead | undefined> {
  const [head] = (await db.query('SELECT seq::text AS seq, hash FROM audit_chain_head WHERE id = 1')) as ChainHead[];
  return head;
}

/** Where retention cut the chain (every row up to this anchored event is gone), or undefined when it never did. */
export async function retentionBoundary(db: Queryable): Promise<ChainHead | undefined> {
  const [kept] = (await db.query('SELECT seq::text AS seq, hash FROM audit_retention WHERE id = 1')) as ChainHead[];
  return kept;
}

/**
 * Whether the chain holds, after the retention boundary (`seq`, `hash` in hex), the `audit.retention` record
 * that names it: retention appends that record before it removes anything.
 */
export async function retentionRecorded(db: Queryable, boundary: { seq: string; hash: string }): Promise<boolean> {
  const rows = (await db.query(
    `SELECT 1 AS one FROM audit_events WHERE seq > $1 AND action = 'audit.retention' AND details->>'through_seq' = $2 ` +
      `AND details->>'through_hash' = $3 LIMIT 1`,
    [boundary.seq, boundary.seq, boundary.hash],
  )) as unknown[];
  return rows.length > 0;
}
