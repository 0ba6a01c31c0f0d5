import type { DataSource, QueryRunner } from 'typeorm';
import { assertMacKey, ChainedEvent, chainHash, GENESIS_HASH } from './canonical';
import { chainHead, retentionBoundary } from './audit-chain';

export type AuditChainProblem =
  /** A seq is missing (a row was deleted) or out of order. */
  | 'seq_gap'
  /** A row below seq 1, where no chained row can be (and a page walk from 1 would not look). */
  | 'stray_row'
  /** A row's prev_hash is not the previous row's hash. */
  | 'prev_hash_mismatch'
  /** A row's content does not hash to its stored hash (modified, or forged without the key). */
  | 'hash_mismatch'
  /** Events exist but audit_chain_head does not. */
  | 'head_missing'
  /** The last row is not the head (the tail was cut, or rows were appended past the head). */
  | 'head_mismatch'
  /** The chain no longer contains the anchor a previous run saw. */
  | 'anchor_mismatch';

export interface VerifyAuditChainOptions {
  /** Rows per page (default 1000). */
  pageSize?: number;
  /**
   * A head seen earlier (e.g. kept by the CLI or published elsewhere). Catches a tail cut
   * by someone who also rewound audit_chain_head, which the table alone cannot show.
   */
  anchor?: { seq: string; hash: string };
  /**
   * Heads recorded outside the database (signed anchors, already checked by the caller). The chain
   * must contain each `(seq, hash)` and reach the newest; a failure names the first anchor it breaks.
   */
  anchors?: Array<{ seq: string; hash: string }>;
}

export interface AuditChainReport {
  ok: boolean;
  /** Rows verified before the first problem (all of them when ok). */
  checked: number;
  headSeq: string;
  /** Hex. */
  headHash: string;
  firstBadSeq?: string;
  problem?: AuditChainProblem;
  /** With anchors: the oldest anchor the problem breaks (the chain no longer proves it). */
  failedAnchor?: { seq: string; hash: string };
  /** Rows up to this anchored head were removed by retention; the walk started after it. */
  retainedThrough?: { seq: string; hash: string };
}

interface StoredRow extends Omit<ChainedEvent, 'at'> {
  at_us: string;
  prev_hash: Buffer;
  hash: Buffer;
}

const PAGE = `SELECT seq::text AS seq, id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at_us,
  tenant, action, outcome, reason, agent, subject, integration, details, prev_hash, hash
  FROM audit_events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`; // e.seq: the bigint, not the text alias

/**
 * Recomputes the whole chain in seq order, in pages, inside one read-only snapshot so that
 * concurrent writers do not show up as a broken tail. Stops at the first problem.
 *
 * @example
 *   const report = await verifyAuditChain(ds, await keys.macKey());
 *   if (!report.ok) console.error(`audit chain broken at ${report.firstBadSeq}: ${report.problem}`);
 */
export async function verifyAuditChain(ds: DataSource, macKey: Buffer, opts: VerifyAuditChainOptions = {}): Promise<AuditChainReport> {
  assertMacKey(macKey);
  const qr = ds.createQueryRunner();
  await qr.connect();
  try {
    await qr.query('START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await walk(qr, macKey, opts);
  } finally {
    // Read-only: ending it either way is the same, and a failed walk must not leave it open.
    await qr.query('ROLLBACK').catch(() => undefined);
    await qr.release();
  }
}

async function walk(qr: QueryRunner, macKey: Buffer, opts: VerifyAuditChainOptions): Promise<AuditChainReport> {
  const pageSize = opts.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new TypeError('pageSize must be a positive integer');
  const anchors = [...(opts.anchors ?? []), ...(opts.anchor ? [opts.anchor] : [])]
    .map((a) => ({ seq: BigInt(a.seq), hash: a.hash.toLowerCase(), given: a }))
    .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const anchorAt = new Map<string, string[]>();
  for (const a of anchors) anchorAt.set(String(a.seq), [...(anchorAt.get(String(a.seq)) ?? []), a.hash]);
  const head = await chainHead(qr);
  const headSeq = head?.seq ?? '0';
  const headHash = (head?.hash ?? GENESIS_HASH).toString('hex');
  // Retention (migration 1101) removed every row up to an anchored one: the chain continues from its hash.
  // The table exists from migration 1101 on; a database migrated before it has no retention.
  const [table] = (await qr.query(`SELECT to_regclass('audit_retention') IS NOT NULL AS present`)) as { present: boolean }[];
  const kept = table.present ? await retentionBoundary(qr) : undefined;
  const start = kept ? BigInt(kept.seq) : 0n;
  const retained = kept ? { retainedThrough: { seq: kept.seq, hash: kept.hash.toString('hex') } } : {};
  const result = (checked: number, firstBadSeq?: bigint, problem?: AuditChainProblem): AuditChainReport => {
    if (!problem) return { ok: true, checked, headSeq, headHash, ...retained };
    // A row at or after the break is what an anchor at or after it vouched for.
    const failed = anchors.find((a) => a.seq >= firstBadSeq!);
    return {
      ok: false,
      checked,
      headSeq,
      headHash,
      firstBadSeq: String(firstBadSeq),
      problem,
      ...(failed ? { failedAnchor: failed.given } : {}),
      ...retained,
    };
  };

  const [stray] = (await qr.query('SELECT min(seq)::text AS seq FROM audit_events WHERE seq < 1 OR seq <= $1 HAVING count(*) > 0', [
    String(start),
  ])) as { seq: string }[];
  if (stray) return result(0, BigInt(stray.seq), 'stray_row');

  let expected = start + 1n;
  let prev = kept ? kept.hash : GENESIS_HASH;
  for (;;) {
    const rows = (await qr.query(PAGE, [String(expected - 1n), pageSize])) as StoredRow[];
    for (const row of rows) {
      const checked = Number(expected - 1n - start);
      if (BigInt(row.seq) !== expected) return result(checked, expected, 'seq_gap');
      if (!row.prev_hash.equals(prev)) return result(checked, expected, 'prev_hash_mismatch');
      if (!chainHash(macKey, prev, toChained(row)).equals(row.hash)) return result(checked, expected, 'hash_mismatch');
      const anchored = anchorAt.get(row.seq);
      if (anchored && anchored.some((h) => h !== row.hash.toString('hex'))) return result(checked, expected, 'anchor_mismatch');
      prev = row.hash;
      expected += 1n;
    }
    if (rows.length < pageSize) break;
  }

  const last = expected - 1n;
  const checked = Number(last - start);
  // Anchors inside the retained segment are history; the boundary itself must still match.
  const beyond = anchors.filter((a) => a.seq >= start);
  if (kept && beyond.some((a) => a.seq === start && a.hash !== kept.hash.toString('hex'))) return result(checked, start, 'anchor_mismatch');
  if (beyond.length && beyond[beyond.length - 1].seq > last) return result(checked, expected, 'anchor_mismatch');
  if (!head) return last === 0n ? result(0) : result(checked, 1n, 'head_missing');
  if (BigInt(head.seq) !== last || !head.hash.equals(prev)) {
    const bad = BigInt(head.seq) > last ? expected : BigInt(head.seq) < last ? BigInt(head.seq) + 1n : last;
    return result(checked, bad, 'head_mismatch');
  }
  return result(checked);
}

/** The stored `at` back to the ISO-milliseconds form that was hashed; sub-millisecond edits stay visible. */
function toChained(row: StoredRow): ChainedEvent {
  const at = row.at_us.endsWith('000') ? `${row.at_us.slice(0, -3)}Z` : `${row.at_us}Z`;
  return { ...row, at };
}
