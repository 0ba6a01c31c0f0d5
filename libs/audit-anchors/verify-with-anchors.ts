import type { KeyObject } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { AuditChainProblem, AuditChainReport, retentionRecorded, verifyAuditChain } from '../audit';
import { anchorSignatureValid, AuditAnchor } from './anchor';

export type AnchorProblem =
  | AuditChainProblem
  /** The signature does not verify (forged or altered anchor), or no key is known for its `kid`. */
  | 'anchor_signature_invalid'
  /** Rows were removed up to a point that is not one of the given anchors. */
  | 'retention_unanchored'
  /** Rows were removed without the vault's `audit.retention` record in the chain (not through the vault). */
  | 'retention_unaudited'
  /** The anchor is another vault's. */
  | 'anchor_other_vault';

export interface AnchoredVerifyReport extends Omit<AuditChainReport, 'problem'> {
  problem?: AnchorProblem;
  /** How many anchors were checked. */
  anchors: number;
  /** The newest anchor the chain was checked against. */
  newestAnchor?: Pick<AuditAnchor, 'seq' | 'hash' | 'at'>;
  /** The first anchor that fails: refused (signature, vault) or no longer proven by the chain. */
  failedAnchor?: Pick<AuditAnchor, 'seq' | 'hash' | 'at'>;
}

export interface VerifyWithAnchorsOptions {
  /** The public key of a key id (the key provider's, or one given by the operator); undefined = unknown. */
  publicKey(kid: string): Promise<KeyObject | undefined>;
  /** This vault's URL: anchors naming another vault are refused. */
  vault: string;
  pageSize?: number;
}

/**
 * Checks every anchor's signature, then walks the chain once: it must contain each anchored
 * `(seq, hash)` and reach the newest anchor. Truncation, a dropped tail, a rewritten row or a reset
 * head all fail and name the oldest anchor they break. Anchors are taken in file order; their
 * signatures are checked before anything is read from the database.
 *
 * @example
 *   const report = await verifyWithAnchors(ds, macKey, parseAnchorLines(text), { publicKey: (kid) =>
 * signer.publicKey(kid), vault: config.publicUrl });
 *   if (!report.ok) console.error(`anchor ${report.failedAnchor?.seq} fails: ${report.problem}`);
 */
export async function verifyWithAnchors(
  ds: DataSource,
  macKey: Buffer,
  anchors: AuditAnchor[],
  opts: VerifyWithAnchorsOptions,
): Promise<AnchoredVerifyReport> {
  const keys = new Map<string, KeyObject | undefined>();
  for (const a of anchors) {
    const problem =
      a.vault !== opts.vault ? 'anchor_other_vault' : (await signatureOk(a, keys, opts)) ? undefined : 'anchor_signature_invalid';
    if (problem) return { ok: false, checked: 0, headSeq: '', headHash: '', anchors: anchors.length, problem, failedAnchor: brief(a) };
  }
  const chain = await verifyAuditChain(ds, macKey, { pageSize: opts.pageSize, anchors });
  const report = chain.ok && chain.retainedThrough ? await checkRetention(ds, chain, anchors) : chain;
  const newest = anchors.reduce<AuditAnchor | undefined>((n, a) => (!n || BigInt(a.seq) > BigInt(n.seq) ? a : n), undefined);
  const { failedAnchor, ...rest } = report;
  const failed = failedAnchor && anchors.find((a) => a.seq === failedAnchor.seq && a.hash === failedAnchor.hash.toLowerCase());
  return {
    ...rest,
    anchors: anchors.length,
    ...(newest ? { newestAnchor: brief(newest) } : {}),
    ...(failed ? { failedAnchor: brief(failed) } : {}),
  };
}

/**
 * Retention may only have removed a segment ending at one of the signed anchors, and only through the
 * vault, which first appends `audit.retention` naming that anchor (written with the MAC key, and
 * checked by the walk like every row).
 */
async function checkRetention(ds: DataSource, report: AuditChainReport, anchors: AuditAnchor[]): Promise<AuditChainReport> {
  const b = report.retainedThrough!;
  const fail = (problem: AnchorProblem) => ({ ...report, ok: false, firstBadSeq: b.seq, problem: problem as AuditChainProblem });
  if (!anchors.some((a) => a.seq === b.seq && a.hash === b.hash)) return fail('retention_unanchored');
  return (await retentionRecorded(ds, b)) ? report : fail('retention_unaudited');
}

async function signatureOk(a: AuditAnchor, keys: Map<string, KeyObject | undefined>, opts: VerifyWithAnchorsOptions): Promise<boolean> {
  if (!keys.has(a.kid)) keys.set(a.kid, await opts.publicKey(a.kid));
  const key = keys.get(a.kid);
  return key !== undefined && anchorSignatureValid(a, key);
}

function brief(a: AuditAnchor): Pick<AuditAnchor, 'seq' | 'hash' | 'at'> {
  return { seq: a.seq, hash: a.hash, at: a.at };
}
