import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { CURRENT_AAD_SCHEME, KEY_PROVIDER, KeyProvider, SEALED_TABLES, SealedTable, SystemKeyStore, TenantKeyStore } from '../crypto';
import { olderSchemeWhere } from './aad-reseal';
import { KeyJob } from './key-job';
import { KeyJobStore } from './key-job.store';

/** Cryptoperiod used for warnings when no automatic rotation period is configured (NIST SP 800-57 pt. 1 §5.3.6 suggests ≤ 1–2 years). */
export const DEFAULT_CRYPTOPERIOD_DAYS = 365;
const DAY_MS = 86_400_000;
/** Tenants listed in full in an operator's vault-wide view (the others are counted). */
const OPERATOR_TENANT_LIMIT = 200;

export interface KeyWarning {
  code:
    | 'kek_past_cryptoperiod'
    | 'kek_rewrap_pending'
    | 'tenant_key_past_cryptoperiod'
    | 'tenant_key_versions_pending_retirement'
    | 'key_job_failed'
    | 'aad_reseal_pending';
  message: string;
  tenant?: string;
  version?: number;
  job?: string;
}

export interface TenantKeyVersionView {
  version: number;
  status: 'active' | 'decrypt_only' | 'destroyed';
  kek_key_id: string | null;
  created_at: Date;
  destroyed_at: Date | null;
  encryptions: number;
  /** Records sealed under this version, per sealed table: every table retirement counts before it destroys a version. */
  records: Record<SealedTable, number>;
}

export interface KeyStatusView {
  kek: {
    provider: 'local' | 'azure';
    current_key_id: string;
    current_created_at: Date | null;
    period_days: number;
    automatic: boolean;
    /** KEK versions that still wrap a live key, with how many. A version at zero can be disabled in Key Vault. */
    versions: Array<{ key_id: string; current: boolean; tenant_keys: number; system_keys?: number }>;
  };
  tenant_keys: { period_days: number; automatic: boolean };
  tenants: Array<{
    tenant: string;
    active_version: number | null;
    min_version: number;
    shredded_at: Date | null;
    /**
     * The oldest AAD scheme still opened for the tenant, and how many records still use an older one than the
     * current (the re-seal job's work left).
     */
    aad: { scheme: number; current: number; records_on_older_scheme: number };
    versions: TenantKeyVersionView[];
  }>;
  /** Operators only: how many tenants there are, and how many were left out of `tenants`. */
  summary?: { tenants: number; listed: number };
  jobs: Array<ReturnType<typeof jobView>>;
  warnings: KeyWarning[];
}

/**
 * What `GET /v1/admin/keys` and `keys status` show: KEK versions in use with key counts, tenant
 * key versions with record counts, job progress, and warnings (past the cryptoperiod, rewraps
 * pending, failed jobs). A tenant admin sees their tenant; an operator sees the vault.
 */
@Injectable()
export class KeyStatusService {
  constructor(
    private readonly ds: DataSource,
    @Inject(KEY_PROVIDER) private readonly provider: KeyProvider,
    private readonly jobs: KeyJobStore,
    private readonly tenantKeys: TenantKeyStore,
    private readonly systemKeys: SystemKeyStore,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'keys'>,
  ) {}

  async status(scope: { tenant?: string; operator: boolean }): Promise<KeyStatusView> {
    if (!scope.operator && !scope.tenant) throw new Error('a tenant admin sees one tenant');
    const only = scope.tenant;
    const currentKeyId = await this.provider.refresh().catch(() => this.provider.currentKeyId());
    const createdAt = this.provider.currentKeyCreatedAt?.() ?? null;
    const kekPeriod = this.config.keys.rotationPeriodDays.kek ?? DEFAULT_CRYPTOPERIOD_DAYS;
    const tkPeriod = this.config.keys.rotationPeriodDays.tk ?? DEFAULT_CRYPTOPERIOD_DAYS;
    const warnings: KeyWarning[] = [];

    const versions = await this.kekVersions(only, scope.operator, currentKeyId);
    const tenants = await this.tenants(only);
    const jobs = await this.jobs.recent({ tenant: scope.operator ? undefined : only, limit: 20 });
    const open = (kind: string, tenant: string | null) =>
      jobs.some((j) => j.kind === kind && j.tenant === tenant && (j.status === 'pending' || j.status === 'running'));

    if (createdAt && Date.now() - createdAt.getTime() > kekPeriod * DAY_MS) {
      warnings.push({
        code: 'kek_past_cryptoperiod',
        message:
          `the current KEK version is older than ${kekPeriod} days; ` +
          `rotate it (keys rotate --target kek, or a Key Vault rotation policy)`,
      });
    }
    const stale = versions.filter((v) => !v.current).reduce((n, v) => n + v.tenant_keys + (v.system_keys ?? 0), 0);
    if (stale > 0 && !open('kek_rotate', null)) {
      warnings.push({
        code: 'kek_rewrap_pending',
        message: `${stale} keys are wrapped by an older KEK version; a KEK rewrap job will move them`,
      });
    }
    for (const t of tenants.list) {
      const active = t.versions.find((v) => v.status === 'active');
      if (active && Date.now() - active.created_at.getTime() > tkPeriod * DAY_MS) {
        warnings.push({
          code: 'tenant_key_past_cryptoperiod',
          tenant: t.tenant,
          version: active.version,
          message: `the active tenant key is older than ${tkPeriod} days; rotate it`,
        });
      }
      if (t.versions.some((v) => v.status === 'decrypt_only') && !open('tenant_rotate', t.tenant)) {
        warnings.push({
          code: 'tenant_key_versions_pending_retirement',
          tenant: t.tenant,
          message: 'older tenant key versions are still live; a tenant rotation (or keys retire) destroys them',
        });
      }
    }
    for (const t of tenants.list) {
      if (t.aad.scheme < t.aad.current && !open('aad_reseal', null)) {
        warnings.push({
          code: 'aad_reseal_pending',
          tenant: t.tenant,
          message:
            `${t.aad.records_on_older_scheme} records ` +
            `still use AAD scheme ${t.aad.scheme}; the re-seal job (aad_reseal) moves them and then refuses the ` +
            `old scheme`,
        });
      }
    }
    for (const j of jobs) {
      if (j.status === 'failed' && j.finishedAt && Date.now() - j.finishedAt.getTime() < DAY_MS) {
        warnings.push({
          code: 'key_job_failed',
          job: j.id,
          tenant: j.tenant ?? undefined,
          message: `key job ${j.kind} failed (${j.errorClass ?? 'unknown'})`,
        });
      }
    }
    return {
      kek: {
        provider: this.provider.kind,
        current_key_id: currentKeyId,
        current_created_at: createdAt,
        period_days: kekPeriod,
        automatic: this.config.keys.rotationPeriodDays.kek !== undefined,
        versions,
      },
      tenant_keys: { period_days: tkPeriod, automatic: this.config.keys.rotationPeriodDays.tk !== undefined },
      tenants: tenants.list,
      ...(scope.operator && !scope.tenant ? { summary: { tenants: tenants.count, listed: tenants.list.length } } : {}),
      // Who asked for a vault-wide job is the operators' business.
      jobs: jobs.map((j) => ({ ...jobView(j), ...(scope.operator || j.tenant !== null ? {} : { requested_by: null }) })),
      warnings,
    };
  }

  /** Tenants that have an active tenant key (what "rotate every tenant" covers). */
  async activeTenants(): Promise<Array<{ tenant: string }>> {
    return (await this.tenantKeys.tenantsWithActiveKey()).map((tenant) => ({ tenant }));
  }

  private async kekVersions(tenant: string | undefined, operator: boolean, currentKeyId: string) {
    const tks = await this.tenantKeys.countByKek(tenant);
    const sys = operator ? await this.systemKeys.countByKek() : [];
    const ids = [...new Set([...tks, ...sys].map((c) => c.kekKeyId))].sort();
    const countOf = (list: typeof tks, id: string) => list.find((c) => c.kekKeyId === id)?.keys ?? 0;
    const out = ids.map((id) => ({
      key_id: id,
      current: id === currentKeyId,
      tenant_keys: countOf(tks, id),
      ...(operator ? { system_keys: countOf(sys, id) } : {}),
    }));
    if (!out.some((v) => v.current))
      out.push({ key_id: currentKeyId, current: true, tenant_keys: 0, ...(operator ? { system_keys: 0 } : {}) });
    return out;
  }

  /** One tenant, or (operators) the tenants that need attention first, then the rest, up to a limit. */
  private async tenants(tenant: string | undefined) {
    const { count: n, list: chosen } = await this.tenantKeys.keyStates(tenant, OPERATOR_TENANT_LIMIT);
    const ids = chosen.map((t) => t.tenant);
    const keys = await this.tenantKeys.forTenants(ids);
    // The tables come from the keyring's own list (what retireBelow and the rotation job cover), so a new sealed table is counted here too.
    const counts: Array<{ tenant: string; tbl: SealedTable; tk_version: number; n: string }> = await this.ds.query(
      SEALED_TABLES.map(
        (t) =>
          `SELECT tenant, '${t}' AS tbl, tk_version, count(*) AS n FROM ${t} WHERE tenant = ANY($1) ` +
          `AND tk_version IS NOT NULL GROUP BY tenant, tk_version`,
      ).join('\n       UNION ALL\n       '),
      [ids],
    );
    // Only tenants still on an older scheme can have such records: the others cost no scan.
    const older = chosen.filter((t) => t.aadScheme < CURRENT_AAD_SCHEME).map((t) => t.tenant);
    const perTable = SEALED_TABLES.map(
      (t) => `SELECT tenant, count(*) AS n FROM ${t} WHERE tenant = ANY($1) AND ${olderSchemeWhere(t, CURRENT_AAD_SCHEME)} GROUP BY tenant`,
    );
    const olderCounts: Array<{ tenant: string; n: string }> = older.length
      ? await this.ds.query(`SELECT tenant, sum(n) AS n FROM (${perTable.join(' UNION ALL ')}) c GROUP BY tenant`, [older])
      : [];
    const list = chosen.map((t) => {
      const versions: TenantKeyVersionView[] = keys
        .filter((k) => k.tenant === t.tenant)
        .map((k) => {
          const count = (tbl: SealedTable) =>
            Number(counts.find((c) => c.tenant === t.tenant && c.tbl === tbl && Number(c.tk_version) === k.version)?.n ?? 0);
          return {
            version: k.version,
            status: k.status,
            kek_key_id: k.status === 'destroyed' ? null : k.kekKeyId,
            created_at: k.createdAt,
            destroyed_at: k.destroyedAt,
            encryptions: k.encryptions,
            records: Object.fromEntries(SEALED_TABLES.map((tbl) => [tbl, count(tbl)])) as Record<SealedTable, number>,
          };
        });
      const active = versions.find((v) => v.status === 'active');
      const aad = {
        scheme: t.aadScheme,
        current: CURRENT_AAD_SCHEME as number,
        records_on_older_scheme: Number(olderCounts.find((c) => c.tenant === t.tenant)?.n ?? 0),
      };
      return {
        tenant: t.tenant,
        active_version: active?.version ?? null,
        min_version: t.minKeyVersion,
        shredded_at: t.shreddedAt,
        aad,
        versions,
      };
    });
    return { count: n, list };
  }
}

export function jobView(j: KeyJob) {
  return {
    id: j.id,
    kind: j.kind,
    tenant: j.tenant,
    status: j.status,
    done: j.done,
    total: j.total,
    progress: j.total > 0 ? Math.min(1, j.done / j.total) : j.status === 'succeeded' ? 1 : 0,
    attempts: j.attempts,
    requested_by: j.requestedBy as string | null,
    error_class: j.errorClass,
    created_at: j.createdAt,
    started_at: j.startedAt,
    finished_at: j.finishedAt,
    updated_at: j.updatedAt,
  };
}
