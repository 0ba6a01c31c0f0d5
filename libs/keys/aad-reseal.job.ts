import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { CURRENT_AAD_SCHEME, Keyring, RecordRef, SEALED_LAYOUT, SealedFields, SEALED_TABLES, TenantKeyStore } from '../crypto';
import { TenantId } from '../kernel';
import { countOlderScheme, olderSchemeWhere, resealBatch } from './aad-reseal';
import { uuidLanes } from './dek-rewrap';
import { KeyJob, KeyJobFailure } from './key-job';
import { KeyJobContext, KeyJobHandler, KeyJobOutcome } from './key-job.runner';
import { allLanes } from './tenant-key-rotation.job';

const LOCKED_ROWS_WAIT_MS = 200;

/**
 * The online move of every sealed field onto the current AAD scheme (issue 14: fields bound to
 * their row's owner columns). Vault-wide, tenant by tenant: every record with a field under an
 * older scheme is re-sealed in batches with its own DEK (no key is created, rotated or rewrapped),
 * then the tenant's floor (`tenants.aad_scheme`) is raised and the old scheme is refused from then
 * on. Reads keep working throughout (the keyring opens both schemes until the floor is raised);
 * writers are never blocked (rows they hold are skipped and taken on a later pass). Resumable by
 * construction: what is left to do is whatever still carries the old scheme's header.
 */
@Injectable()
export class AadResealJob implements KeyJobHandler {
  readonly kind = 'aad_reseal' as const;

  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
    private readonly tenantKeys: TenantKeyStore,
    private readonly sealed: SealedFields,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'keys'>,
  ) {}

  async run(job: KeyJob, ctx: KeyJobContext): Promise<KeyJobOutcome> {
    const scheme = CURRENT_AAD_SCHEME;
    const tenants = await this.tenantKeys.tenantsBelowAadScheme(scheme);
    let done = job.done;
    let unreadable = 0;
    const raised: string[] = [];
    for (const tenant of tenants) {
      const r = await this.resealTenant(tenant, ctx, done);
      done = r.done;
      unreadable += r.unreadable;
      // Only old-scheme rows that do not open under any scheme may be left: they were unreadable already.
      await this.tenantKeys.raiseAadScheme(tenant, scheme);
      this.keyring.raiseAadSchemeFloor(tenant, scheme);
      raised.push(tenant);
      await this.audit.record({
        tenant,
        action: 'key.reseal',
        outcome: 'allowed',
        details: { job: job.id, aad_scheme: scheme, resealed: r.updated, unreadable: r.unreadable },
      });
    }
    return { done, total: done, details: { aad_scheme: scheme, tenants: raised.length, unreadable } };
  }

  /** Passes over every sealed table of the tenant until nothing but unreadable records is left under an older scheme. */
  private async resealTenant(
    tenant: TenantId,
    ctx: KeyJobContext,
    doneBefore: number,
  ): Promise<{ done: number; updated: number; unreadable: number }> {
    let done = doneBefore;
    let updatedTotal = 0;
    let stuckPasses = 0;
    const alerted = new Set<string>();
    for (;;) {
      const remaining = await countOlderScheme(this.ds, tenant, CURRENT_AAD_SCHEME, SEALED_TABLES);
      const everywhere = await countOlderScheme(this.ds, null, CURRENT_AAD_SCHEME, SEALED_TABLES);
      ctx.progress(done, done + everywhere);
      if (remaining === 0) return { done, updated: updatedTotal, unreadable: 0 };
      let updated = 0;
      const failed: RecordRef[] = [];
      for (const table of SEALED_TABLES) {
        if ('cache' in SEALED_LAYOUT[table]) {
          // A cache: old-scheme rows are dropped and derived again on demand (their owner columns live elsewhere).
          const [, n] = await this.ds.query(`DELETE FROM ${table} WHERE tenant = $1 AND ${olderSchemeWhere(table, CURRENT_AAD_SCHEME)}`, [
            tenant,
          ]);
          updated += Number(n);
          done += Number(n);
          continue;
        }
        // Disjoint id ranges side by side: one lane's crypto overlaps another's round trip.
        await allLanes(
          uuidLanes(this.config.keys.rewrapLanes).map((lane) => async (stopped: AbortSignal) => {
            for (let after = lane.after; !stopped.aborted;) {
              ctx.signal.throwIfAborted();
              const batch = await resealBatch(this.ds, this.keyring, {
                table,
                tenant,
                after,
                before: lane.before,
                limit: this.config.keys.batchSize,
                scheme: CURRENT_AAD_SCHEME,
              });
              if (!batch.scanned) return;
              after = batch.cursor;
              updated += batch.updated;
              done += batch.updated;
              failed.push(...batch.unreadable);
              ctx.progress(done, done + Math.max(0, everywhere - updated));
            }
          }),
        );
      }
      updatedTotal += updated;
      // Outside the batch transactions: an ALERT and a durable audit record per record that did not open.
      for (const ref of failed.filter((f) => !alerted.has(`${f.table}/${f.id}`))) {
        alerted.add(`${ref.table}/${ref.id}`);
        await this.sealed.alert(ref, '*', {
          audit: this.audit,
          action: 'key.reseal',
          integration: ref.bind.integration ?? ref.bind.name,
          subject: ref.bind.subject || undefined,
        });
      }
      if (updated > 0) {
        stuckPasses = 0;
        continue;
      }
      if (failed.length >= remaining) return { done, updated: updatedTotal, unreadable: failed.length };
      if (++stuckPasses > 300) throw new KeyJobFailure('records_locked', 'records stayed locked by writers');
      await sleep(LOCKED_ROWS_WAIT_MS, undefined, { signal: ctx.signal });
    }
  }
}
