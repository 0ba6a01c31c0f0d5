import { DataSource } from 'typeorm';
import { context } from './aead';
import { KeyProvider, KeyProviderUnavailableError, KeyUnwrapError, WrappedKey } from './key-provider';
import { bind, unbind } from './keyring';
import { SystemKeyStore } from './system-key-store';
import { TenantKeyStore } from './tenant-key-store';

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

/** A KEK-wrapped key of either table, as the rewrap loop sees it: `owner` is the tenant or the purpose. */
interface WrappedRow {
  owner: string;
  version: number;
  kekKeyId: string;
  wrapped: Buffer;
}

/** One table of KEK-wrapped keys, through its store. */
interface WrappedKeyTable {
  label: 'tk' | 'sys';
  notUnderKek(kekKeyId: string, after: [string, number], limit: number): Promise<WrappedRow[]>;
  replaceWrapping(row: WrappedRow, next: WrappedKey): Promise<void>;
  countNotUnderKek(kekKeyId: string): Promise<number>;
}

function tables(ds: DataSource): WrappedKeyTable[] {
  const tks = new TenantKeyStore(ds);
  const sys = new SystemKeyStore(ds);
  return [
    {
      label: 'tk',
      notUnderKek: async (kek, after, limit) => (await tks.notUnderKek(kek, after, limit)).map((k) => ({ ...k, owner: k.tenant })),
      replaceWrapping: (row, next) => tks.replaceWrapping({ ...row, tenant: row.owner }, next),
      countNotUnderKek: (kek) => tks.countNotUnderKek(kek),
    },
    {
      label: 'sys',
      notUnderKek: async (kek, after, limit) => (await sys.notUnderKek(kek, after, limit)).map((k) => ({ ...k, owner: k.purpose })),
      replaceWrapping: (row, next) => sys.replaceWrapping({ ...row, purpose: row.owner }, next),
      countNotUnderKek: (kek) => sys.countNotUnderKek(kek),
    },
  ];
}

/** Live tenant and system keys under another KEK version than `currentKeyId` (what a KEK rotation still has to move). */
export async function keysNotUnderKek(ds: DataSource, currentKeyId: string): Promise<number> {
  const counts = await Promise.all(tables(ds).map((t) => t.countNotUnderKek(currentKeyId)));
  return counts.reduce((a, b) => a + b, 0);
}

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

  for (const table of tables(ds)) {
    let cursor: [string, number] = ['', 0];
    while (budgetLeft() > 0) {
      opts.signal?.throwIfAborted();
      const rows = await table.notUnderKek(currentKeyId, cursor, batch);
      if (!rows.length) break;
      const last = rows[rows.length - 1];
      cursor = [last.owner, last.version];
      const todo = rows.slice(0, Math.min(rows.length, budgetLeft()));
      await inParallel(todo, concurrency, async (row) => {
        if (await rewrapOne(provider, table, context(table.label, row.owner, row.version), row, opts)) rewrapped++;
        else failed++;
        await opts.onProgress?.(rewrapped, failed);
      });
    }
  }
  return { currentKeyId, rewrapped, remaining: await keysNotUnderKek(ds, currentKeyId), failed };
}

/** True when rewrapped (or already moved by someone else); false when the key does not unwrap. */
async function rewrapOne(
  provider: KeyProvider,
  table: WrappedKeyTable,
  ctx: Buffer,
  row: WrappedRow,
  opts: KekRewrapOptions,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      await opts.beforeCall?.();
      const key = unbind(ctx, await provider.unwrap(row.kekKeyId, row.wrapped));
      try {
        await table.replaceWrapping(row, await provider.wrap(bind(ctx, key)));
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
