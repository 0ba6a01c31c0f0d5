import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { Keyring, SEALED_TABLES, TenantKeyStore } from '../crypto';
import { asTenantId, DomainError, TenantId } from '../kernel';
import { countBelow, rewrapDekBatch, uuidLanes, versionsBelow } from './dek-rewrap';
import { KeyJob, KeyJobFailure } from './key-job';
import { KeyJobContext, KeyJobHandler, KeyJobOutcome } from './key-job.runner';

const MAX_RETIRE_ATTEMPTS = 20;
const LOCKED_ROWS_WAIT_MS = 200;

/**
 * Tenant-key rotation: a new active TK (new writes use it at once), every record's DEK
 * rewrapped onto it in batches (data is never re-encrypted), then every older TK destroyed
 * and the minimum decryption version raised (`Keyring.retireBelow`, refused while any row
 * still names an older version — the job then goes round again). Reads keep working
 * throughout: old versions stay decryptable until the last record has moved, and
 * `retireDelayMs` lets reads that loaded a record just before its rewrap finish.
 */
@Injectable()
export class TenantKeyRotationJob implements KeyJobHandler {
  readonly kind = 'tenant_rotate' as const;

  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
    private readonly tenantKeys: TenantKeyStore,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'keys'>,
  ) {}

  async run(job: KeyJob, ctx: KeyJobContext): Promise<KeyJobOutcome> {
    const tenant = asTenantId(job.tenant ?? '');
    const to = await this.targetVersion(tenant, job, ctx);
    if (to === undefined) return { done: 0, total: 0, details: { outcome: 'no_tenant_key' } };
    let done = job.done;
    for (let attempt = 1; ; attempt++) {
      done = await this.rewrapAll(tenant, to, ctx, done);
      if (this.config.keys.retireDelayMs > 0) await sleep(this.config.keys.retireDelayMs, undefined, { signal: ctx.signal });
      try {
        const destroyed = await this.keyring.retireBelow(tenant, to);
        if (destroyed.length) {
          await this.audit.record({
            tenant,
            action: 'key.retire',
            outcome: 'allowed',
            details: { target: 'tenant', job: job.id, versions: destroyed, min_version: to },
          });
        }
        return { done, total: done, details: { version: to, retired: destroyed } };
      } catch (err) {
        // A writer committed a record under an older key after our last pass: go round again.
        if (!(err instanceof DomainError && err.code === 'conflict') || attempt >= MAX_RETIRE_ATTEMPTS) throw err;
      }
    }
  }

  /** The version records move onto: a new TK (created once, checkpointed), or the active one when `rotate` is false. */
  private async targetVersion(tenant: TenantId, job: KeyJob, ctx: KeyJobContext): Promise<number | undefined> {
    if (job.params.to_version) return job.params.to_version;
    const active = await this.activeVersion(tenant);
    if (active === undefined) return undefined; // nothing sealed yet, or the tenant was shredded
    let to = active;
    if (job.params.rotate !== false) {
      // Checkpoint before rotating: a run resumed after a crash sees the new key is already there.
      if (job.params.rotating_from === undefined) await ctx.checkpoint({ rotating_from: active });
      const from = job.params.rotating_from as number;
      to = active > from ? active : await this.keyring.rotateTenantKey(tenant);
    }
    await ctx.checkpoint({ to_version: to });
    return to;
  }

  /** Passes over every sealed table until no record is under a version below `to`. */
  private async rewrapAll(tenant: TenantId, to: number, ctx: KeyJobContext, doneBefore: number): Promise<number> {
    let done = doneBefore;
    let stuckPasses = 0;
    for (;;) {
      const remaining = await countBelow(this.ds, tenant, to);
      ctx.progress(done, done + remaining);
      if (remaining === 0) return done;
      // Warm the keys outside the batch transactions, so no row lock waits on Key Vault.
      await this.warmOldKeys(tenant, to);
      // Our own copy of the active key, held across the whole pass and zeroed after it.
      const target = await this.keyring.activeTenantKey(tenant);
      let updated = 0;
      let failed = 0;
      try {
        if (target.version < to) throw new KeyJobFailure('active_key_changed', 'the active tenant key is older than the rotation target');
        for (const table of SEALED_TABLES) {
          for (const version of await versionsBelow(this.ds, table, tenant, to)) {
            // Disjoint id ranges side by side: one lane's crypto overlaps another's round trip.
            await allLanes(
              uuidLanes(this.config.keys.rewrapLanes).map((lane) => async (stopped: AbortSignal) => {
                for (let after = lane.after; !stopped.aborted;) {
                  ctx.signal.throwIfAborted();
                  const batch = await rewrapDekBatch(this.ds, this.keyring, {
                    table,
                    tenant,
                    version,
                    after,
                    before: lane.before,
                    limit: this.config.keys.batchSize,
                    target,
                  });
                  if (!batch.scanned) return;
                  after = batch.cursor;
                  updated += batch.updated;
                  failed += batch.failed;
                  done += batch.updated;
                  ctx.progress(done, done + Math.max(0, remaining - updated));
                }
              }),
            );
          }
        }
      } finally {
        target.key.fill(0);
      }
      if (updated > 0) {
        stuckPasses = 0;
        continue;
      }
      // Nothing moved: every remaining record is either locked by a writer right now, or broken.
      if (failed >= remaining)
        throw new KeyJobFailure('key_unwrap_failed', `${failed} records' keys did not unwrap; the old tenant key is kept`);
      if (++stuckPasses > 300) throw new KeyJobFailure('records_locked', 'records stayed locked by writers');
      await sleep(LOCKED_ROWS_WAIT_MS, undefined, { signal: ctx.signal });
    }
  }

  private async warmOldKeys(tenant: TenantId, below: number): Promise<void> {
    for (const version of await this.tenantKeys.liveVersionsBelow(tenant, below))
      await this.keyring.tenantKey(tenant, version).then(
        (k) => k.fill(0),
        () => undefined,
      );
  }

  private activeVersion(tenant: TenantId): Promise<number | undefined> {
    return this.tenantKeys.activeVersion(tenant);
  }
}

/** Runs the lanes together; the first failure stops the others (at their next batch) and is thrown once all have stopped. */
export async function allLanes(lanes: Array<(stopped: AbortSignal) => Promise<void>>): Promise<void> {
  const stop = new AbortController();
  const results = await Promise.allSettled(
    lanes.map((run) => run(stop.signal).catch((err: unknown) => (stop.abort(), Promise.reject(err)))),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}
