import { retentionBoundary } from '../audit';
import type { AuditAnchor } from './anchor';

/** Something to run a query on: the DataSource, or a transaction's EntityManager. */
interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

interface AnchorRow {
  seq: string;
  hash: string;
  at: Date;
  vault: string;
  alg: string;
  kid: string;
  sig: string;
}

/**
 * The database's copy of the anchors this vault emitted: a convenience for the admin API and the
 * dashboard. A database-write attacker can rewrite it, so the signatures are checked on every read
 * and the anchors kept outside stay the evidence.
 */
export const anchorStore = {
  async insert(db: Queryable, a: AuditAnchor): Promise<void> {
    await db.query(
      `INSERT INTO audit_anchors (seq, hash, at, vault, alg, kid, sig) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [a.seq, a.hash, a.at, a.vault, a.alg, a.kid, a.sig],
    );
  },

  /** The newest `limit` anchors and those at the retention boundary (verification starts there), oldest first. */
  async recent(db: Queryable, limit: number): Promise<AuditAnchor[]> {
    const boundary = await retentionBoundary(db);
    const rows = (await db.query(
      `SELECT seq::text AS seq, hash, at, vault, alg, kid, sig FROM (
         (SELECT * FROM audit_anchors ORDER BY at DESC, seq DESC LIMIT $1)
         UNION SELECT * FROM audit_anchors WHERE seq = $2::bigint
       ) r ORDER BY at, seq`,
      [limit, boundary?.seq ?? null],
    )) as AnchorRow[];
    return rows.map((r) => ({ ...r, at: r.at.toISOString() }));
  },
};
