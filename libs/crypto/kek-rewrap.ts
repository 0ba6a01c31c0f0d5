import { DataSource } from 'typeorm';
import { context } from './aead';
import { KeyProvider } from './key-provider';
import { bind, unbind } from './keyring';

export interface KekRewrapResult {
  currentKeyId: string;
  rewrapped: number;
  remaining: number;
}

/**
 * Moves every tenant key (and system key) onto the KEK's current version: one remote
 * unwrap and one local wrap per key, so a KEK rotation costs O(tenant keys) Key Vault
 * calls and never touches records (invariant 2). Idempotent and resumable: each row is
 * updated on its own with a compare on its old KEK id, so a crash loses nothing and a
 * rerun continues where it stopped.
 */
export async function rewrapOntoCurrentKek(ds: DataSource, provider: KeyProvider, opts: { batchSize?: number; limit?: number } = {}): Promise<KekRewrapResult> {
  const currentKeyId = await provider.refresh();
  const batch = opts.batchSize ?? 100;
  let rewrapped = 0;
  for (const table of ['tenant_keys', 'system_keys'] as const) {
    const owner = table === 'tenant_keys' ? 'tenant' : 'purpose';
    const label = table === 'tenant_keys' ? 'tk' : 'sys';
    for (;;) {
      if (opts.limit !== undefined && rewrapped >= opts.limit) break;
      const rows: Array<{ owner: string; version: number; kek_key_id: string; wrapped: Buffer }> = await ds.query(
        `SELECT ${owner} AS owner, version, kek_key_id, wrapped FROM ${table}
          WHERE kek_key_id <> $1 AND status <> 'destroyed' ORDER BY ${owner}, version LIMIT $2`,
        [currentKeyId, batch],
      );
      if (!rows.length) break;
      for (const row of rows) {
        const ctx = context(label, row.owner, row.version);
        const key = unbind(ctx, await provider.unwrap(row.kek_key_id, row.wrapped));
        try {
          const next = await provider.wrap(bind(ctx, key));
          await ds.query(`UPDATE ${table} SET kek_key_id = $1, wrapped = $2 WHERE ${owner} = $3 AND version = $4 AND kek_key_id = $5`, [
            next.keyId,
            next.wrapped,
            row.owner,
            row.version,
            row.kek_key_id,
          ]);
        } finally {
          key.fill(0);
        }
        rewrapped++;
      }
    }
  }
  const [{ n }] = await ds.query(
    `SELECT (SELECT count(*) FROM tenant_keys WHERE kek_key_id <> $1 AND status <> 'destroyed')
          + (SELECT count(*) FROM system_keys WHERE kek_key_id <> $1 AND status <> 'destroyed') AS n`,
    [currentKeyId],
  );
  return { currentKeyId, rewrapped, remaining: Number(n) };
}
