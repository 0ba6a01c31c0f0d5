import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { ConnectionStore } from '../connections';
import { CURRENT_AAD_SCHEME, KEY_PROVIDER, KeyProvider, keysNotUnderKek, TenantKeyStore } from '../crypto';
import { KeyJob } from './key-job';
import { KeyJobStore } from './key-job.store';

const DAY_MS = 86_400_000;
/** Tenant rotations the scheduler starts per tick (the rest follow on later ticks). */
const TENANTS_PER_TICK = 100;
/** After a job of a key failed, the scheduler leaves that key alone this long (an operator looks first). */
const FAILED_QUIET_MS = DAY_MS;
const HOUSEKEEPING_BATCH = 500;

/**
 * The worker's periodic key duties, safe to run in every replica at once (enqueueing is
 * idempotent, housekeeping skips locked rows):
 * - pick up a KEK version made elsewhere (Key Vault rotation policy, an operator): keys still
 *   under an older version → a KEK rewrap job;
 * - automatic rotation when a period is configured (KEY_ROTATION_PERIOD_DAYS_KEK / _TK);
 * - destroy previous API keys whose grace period is over (audited `key.destroy`);
 * - tenants whose records may still be under an older AAD scheme → the re-seal job (`aad_reseal`).
 */
@Injectable()
export class KeyScheduler {
  private readonly log = new Logger('KeyScheduler');

  constructor(
    private readonly ds: DataSource,
    @Inject(KEY_PROVIDER) private readonly provider: KeyProvider,
    private readonly jobs: KeyJobStore,
    private readonly tenantKeyStore: TenantKeyStore,
    private readonly connections: ConnectionStore,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'keys'>,
  ) {}

  /** `signal` (shutdown): the housekeeping stops between batches, each batch destroyed and audited whole. */
  async tick(signal?: AbortSignal): Promise<{ enqueued: KeyJob[]; previousKeysDestroyed: number }> {
    const enqueued: KeyJob[] = [];
    const kekJob = await this.kek();
    if (kekJob) enqueued.push(kekJob);
    enqueued.push(...(await this.tenantKeys()));
    const reseal = await this.aadReseal();
    if (reseal) enqueued.push(reseal);
    return { enqueued, previousKeysDestroyed: await this.destroyExpiredPreviousKeys(signal) };
  }

  private async kek(): Promise<KeyJob | undefined> {
    let current: string;
    try {
      current = await this.provider.refresh();
    } catch {
      return undefined; // Key Vault unreachable: nothing to decide now
    }
    if (await this.jobs.failedRecently('kek_rotate', null, FAILED_QUIET_MS)) return undefined;
    const period = this.config.keys.rotationPeriodDays.kek;
    const created = this.provider.currentKeyCreatedAt?.();
    if (period && created && this.provider.rotate && Date.now() - created.getTime() > period * DAY_MS) {
      return this.enqueueIfNew('kek_rotate', null, { create_version: true });
    }
    const stale = (await keysNotUnderKek(this.ds, current)) > 0;
    return stale ? this.enqueueIfNew('kek_rotate', null, { create_version: false }) : undefined;
  }

  private async tenantKeys(): Promise<KeyJob[]> {
    const period = this.config.keys.rotationPeriodDays.tk;
    if (!period) return [];
    // Tenants with a rotation under way, or one that failed lately, are left out before the limit applies.
    const busy = await this.jobs.tenantsBusyOrFailed('tenant_rotate', FAILED_QUIET_MS);
    const due = await this.tenantKeyStore.activeOlderThan(period, TENANTS_PER_TICK, busy);
    const out: KeyJob[] = [];
    for (const tenant of due) {
      const job = await this.enqueueIfNew('tenant_rotate', tenant, { audit_tenant: tenant, reason: 'cryptoperiod' });
      if (job) out.push(job);
    }
    return out;
  }

  /** Once per upgrade: existing tenants start on the old AAD scheme until the re-seal job has moved their records. */
  private async aadReseal(): Promise<KeyJob | undefined> {
    const pending = await this.tenantKeyStore.anyBelowAadScheme(CURRENT_AAD_SCHEME);
    if (!pending || (await this.jobs.failedRecently('aad_reseal', null, FAILED_QUIET_MS))) return undefined;
    return this.enqueueIfNew('aad_reseal', null, { reason: 'aad_scheme_upgrade' });
  }

  private async enqueueIfNew(kind: KeyJob['kind'], tenant: string | null, params: Record<string, unknown>): Promise<KeyJob | undefined> {
    const r = await this.jobs.enqueue({ kind, tenant, requestedBy: 'scheduler', params });
    if (r.created) this.log.log(`scheduled ${kind}${tenant ? ` for ${tenant}` : ''} (job ${r.job.id})`);
    return r.created ? r.job : undefined;
  }

  private async destroyExpiredPreviousKeys(signal?: AbortSignal): Promise<number> {
    let total = 0;
    for (;;) {
      const destroyed = await this.connections.destroyExpiredPreviousKeys(HOUSEKEEPING_BATCH);
      for (const d of destroyed) {
        await this.audit.record({
          tenant: d.tenant,
          action: 'key.destroy',
          outcome: 'allowed',
          subject: d.subject || undefined,
          integration: d.integration,
          details: { target: 'api_key_previous', connection: d.id, reason: 'grace_period_over' },
        });
      }
      total += destroyed.length;
      if (destroyed.length < HOUSEKEEPING_BATCH || signal?.aborted) return total;
    }
  }
}
