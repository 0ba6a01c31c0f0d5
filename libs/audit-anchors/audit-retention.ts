import type { DataSource } from 'typeorm';
import type { AuditLog } from '../audit';
import type { AuditAnchor } from './anchor';

/** The audit records of vault-wide operations that no tenant owns. */
export const VAULT_AUDIT_TENANT = '_vault';

/**
 * Removes every audit record up to `anchor` (retention): first the `audit.retention` record naming the
 * anchor is made durable in the chain (no record, nothing removed), then `audit_retain_through` deletes
 * the segment and moves the boundary verification starts from. The caller must have checked the anchor's
 * signature and the whole chain against the anchors kept outside first. Answers how many rows went.
 */
export async function retainThrough(ds: DataSource, audit: AuditLog, anchor: AuditAnchor, by: string): Promise<number> {
  await audit.record({
    tenant: VAULT_AUDIT_TENANT,
    action: 'audit.retention',
    outcome: 'allowed',
    subject: by,
    details: { through_seq: anchor.seq, through_hash: anchor.hash, anchor_at: anchor.at },
  });
  const [row] = (await ds.query('SELECT audit_retain_through($1, $2)::text AS n', [anchor.seq, Buffer.from(anchor.hash, 'hex')])) as {
    n: string;
  }[];
  return Number(row.n);
}
