import { DataSource } from 'typeorm';
import { context } from './aead';
import { KeyProvider, KeyProviderUnavailableError, KeyUnwrapError } from './key-provider';
import { bind, unbind } from './keyring';

export interface KekRewrapResult {
  currentKeyId: string;
  rewrapped: number;
  /** Keys still under another KEK version when the pass ended (new ones, or ones that failed). */
  remaining: number;
  /** Keys whose wrapped bytes did not unwrap (tampered or corrupt): left as they are. */
  failed: number;
}

export interface KekRewrapOptions {
  /** Keys read per query. */
  batchSize?: number;
  /** Stop after this many rewraps (tests simulate a crash with it). */
  limit?: number;
  /** Keys in flight at once. */
  concurrency?: number;
  /** Awaited before every Key Vault call: the job's request budget. */
  beforeCall?: () => Promise<void>;
  /**
   * The provider was unavailable (throttled past its retries, down): resolve to retry the same key,
   * throw to stop. Without it the error propagates.
   */
  onUnavailable?: (err: KeyProviderUnavailableError, attempt: number) => Promise<void>;
  /** After every key, with the running totals. */
  onProgress?: (rewrapped: number, failed: number) => void | Promise<void>;
  signal?: AbortSignal;
  /** The versioned KEK id to move onto; default: `provider.refresh()`. */
  currentKeyId?: string;
}

interface KeyRow {
  owner: string;
  version: number;
  kek_key_id: string;
  wrapped: Buffer;
}

const TABLES = [
  { table: 'tenant_keys', owner: 'tenant', label: 'tk' },
  { table: 'system_keys', owner: 'purpose', label: 'sys' },
] as const;

/**
 * Moves every tenant key (and system key) onto the KEK's current version: one remote
 * unwrap and one local wrap per key, so a KEK rotation costs O(tenant keys) Key Vault
 * calls and never touches records (invariant 2). Idempotent and resumable: each row is
 * updated on its own with a compare on its old KEK id and bytes, so a crash loses nothing
 * and a rerun continues where it stopped. A destroyed key is never written back.
 *
 * @example
 *   const r = await rewrapOntoCurrentKek(ds, provider, { concurrency: 4, beforeCall: () => limiter.acquire() });
 *   if (r.remaining) // new keys appeared under the old version meanwhile, or some failed
 */
export async function rewrapOntoCurrentKek(ds: DataSource, provider: KeyProvider, opts: KekRewrapOptions = {}): Promise<KekRewrapResult> {
  const currentKeyId = opts.currentKeyId ?? (await provider.refresh());
  const batch = opts.batchSize ?? 100;
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  let rewrapped = 0;
  let failed = 0;
  const budgetLeft = () => (opts.limit === undefined ? Infinity : opts.limit - rewrapped);

  for (const { table, owner, label } of TABLES) {
    let cursor: [string, number] = ['', 0];
    while (budgetLeft() > 0) {
      opts.signal?.throwIfAborted();
      const rows: KeyRow[] = await ds.query(
        `SELECT ${owner} AS owner, version, kek_key_id, wrapped FROM ${table}
          WHERE kek_key_id <> $1 AND status <> 'destroyed' AND (${owner}, version) > ($2, $3)
          ORDER BY ${owner}, version LIMIT $4`,
        [currentKeyId, cursor[0], cursor[1], batch],
      );
      if (!rows.length) break;
      const last = rows[rows.length - 1];
      cursor = [last.owner, last.version];
      const todo = rows.slice(0, Math.min(rows.length, budgetLeft()));
      await inParallel(todo, concurrency, async (row) => {
        if (await rewrapOne(ds, provider, table, owner, context(label, row.owner, row.version), row, opts)) rewrapped++;
        else failed++;
        await opts.onProgress?.(rewrapped, failed);
      });
    }
  }
  const [{ n }] = await ds.query(
    `SELECT (SELECT count(*) FROM tenant_keys WHERE kek_key_id <> $1 AND status <> 'destroyed')
          + (SELECT count(*) FROM system_keys WHERE kek_key_id <> $1 AND status <> 'destroyed') AS n`,
    [currentKeyId],
  );
  return { currentKeyId, rewrapped, remaining: Number(n), failed };
}

/** True when rewrapped (or already moved by someone else); false when the key does not unwrap. */
async function rewrapOne(
  ds: DataSource,
  provider: KeyProvider,
  table: string,
  owner: string,
  ctx: Buffer,
  row: KeyRow,
  opts: KekRewrapOptions,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      await opts.beforeCall?.();
      const key = unbind(ctx, await provider.unwrap(row.kek_key_id, row.wrapped));
      try {
        const next = await provider.wrap(bind(ctx, key));
        await ds.query(
          `UPDATE ${table} SET kek_key_id = $1, wrapped = $2
            WHERE ${owner} = $3 AND version = $4 AND kek_key_id = $5 AND wrapped = $6 AND status <> 'destroyed'`,
          [next.keyId, next.wrapped, row.owner, row.version, row.kek_key_id, row.wrapped],
        );
      } finally {
        key.fill(0);
      }
      return true;
    } catch (err) {
      if (err instanceof KeyUnwrapError) return false;
      if (err instanceof KeyProviderUnavailableError && opts.onUnavailable) {
        await opts.onUnavailable(err, attempt);
        continue;
      }
      throw err;
    }
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; the first error stops new work and is thrown. */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure;
}
