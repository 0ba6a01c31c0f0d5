import { Injectable } from '@nestjs/common';
import { AuditLog } from '../../../libs/audit';
import { AuditVerifyService } from '../../../libs/audit-anchors';
import { ConnectionStore } from '../../../libs/credentials';
import { KeyStatusService } from '../../../libs/keys';
import { TenantId } from '../../../libs/kernel';

const HOUR_MS = 3_600_000;
export const CHART_HOURS = 24;
export const CONNECTION_STATUSES = ['active', 'needs_reauth', 'refresh_indeterminate', 'revoked'] as const;

export interface DashboardView {
  tenant: string;
  generatedAt: Date;
  connections: { rows: Array<{ provider: string; counts: Record<string, number>; total: number }>; byStatus: Record<string, number>; total: number };
  /** Oldest hour first; the last one is the current (partial) hour. */
  refreshFailures: { hours: Array<{ start: Date; count: number }>; total: number };
  releases24h: { allowed: number; denied: number; error: number };
  recentReleases: Array<{ at: string; outcome: string; reason: string | null; agent: string | null; user: string | null; integration: string | null }>;
  keys: {
    activeVersion: number | null;
    versions: Array<{ version: number; status: string; records: number; createdAt: Date }>;
    /** Records sealed under the active version, of all records (1 when rotation is complete). */
    onActive: number;
    jobs: Array<{ kind: string; status: string; done: number; total: number; progress: number; createdAt: Date; finishedAt: Date | null }>;
    warnings: string[];
  };
  /**
   * The vault-wide audit chain checked against the newest signed anchor it holds: when that anchor
   * was signed and how old it is (seq numbers stay with operators: they count every tenant's events).
   */
  auditAnchor: { ok: boolean; at: string | null; ageSeconds: number | null; problem: string | null };
}

/**
 * What the operator dashboard shows, for one tenant only. The figures come from the contexts that
 * own them, no SQL here: key status from libs/keys, connections by provider and status from the
 * connection store, recent releases and hourly counts from the audit log.
 */
@Injectable()
export class DashboardService {
  constructor(
    private readonly connectionStore: ConnectionStore,
    private readonly audit: AuditLog,
    private readonly keyStatus: KeyStatusService,
    private readonly auditVerify: AuditVerifyService,
  ) {}

  async view(tenant: TenantId, now = new Date()): Promise<DashboardView> {
    const windowStart = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS - (CHART_HOURS - 1) * HOUR_MS);
    const [connections, activity, recent, keys, auditAnchor] = await Promise.all([
      this.connections(tenant),
      this.activity(tenant, windowStart),
      this.audit.list(tenant, { action: 'credential.release', limit: 20 }),
      this.keyStatus.status({ operator: false, tenant }),
      this.anchorStatus(now),
    ]);
    const mine = keys.tenants.find((t) => t.tenant === tenant);
    const versions = (mine?.versions ?? []).map((v) => ({ version: v.version, status: v.status, records: Object.values(v.records).reduce((a, b) => a + b, 0), createdAt: v.created_at }));
    const all = versions.reduce((n, v) => n + v.records, 0);
    const onActive = versions.find((v) => v.version === mine?.active_version)?.records ?? 0;
    return {
      tenant,
      generatedAt: now,
      connections,
      refreshFailures: {
        hours: Array.from({ length: CHART_HOURS }, (_, i) => ({ start: new Date(windowStart.getTime() + i * HOUR_MS), count: activity.failures[i] ?? 0 })),
        total: activity.failures.reduce((a, b) => a + b, 0),
      },
      auditAnchor,
      releases24h: activity.releases,
      recentReleases: recent.events.map((e) => ({ at: e.at, outcome: e.outcome, reason: e.reason, agent: e.agent, user: e.user, integration: e.integration })),
      keys: {
        activeVersion: mine?.active_version ?? null,
        // Every live version, and the last few destroyed ones (a tenant rotated for years has many).
        versions: [...versions.filter((v) => v.status !== 'destroyed'), ...versions.filter((v) => v.status === 'destroyed').slice(-3)].sort((a, b) => b.version - a.version),
        onActive: all === 0 ? 1 : onActive / all,
        jobs: keys.jobs.filter((j) => j.tenant === tenant).slice(0, 5).map((j) => ({ kind: j.kind, status: j.status, done: j.done, total: j.total, progress: j.progress, createdAt: j.created_at, finishedAt: j.finished_at })),
        warnings: keys.warnings.filter((w) => w.tenant === undefined || w.tenant === tenant).map((w) => w.message),
      },
    };
  }

  private async anchorStatus(now: Date): Promise<DashboardView['auditAnchor']> {
    try {
      const r = await this.auditVerify.recent(now);
      const last = r.lastVerifiedAnchor;
      return { ok: r.ok, at: last?.at ?? null, ageSeconds: last?.ageSeconds ?? null, problem: r.problem ?? null };
    } catch {
      // The key provider or the database failing here must not take the whole dashboard down.
      return { ok: false, at: null, ageSeconds: null, problem: 'unavailable' };
    }
  }

  private async connections(tenant: TenantId): Promise<DashboardView['connections']> {
    const byProvider = new Map<string, Record<string, number>>();
    const byStatus: Record<string, number> = Object.fromEntries(CONNECTION_STATUSES.map((s) => [s, 0]));
    for (const r of await this.connectionStore.countByProviderAndStatus(tenant)) {
      const counts = byProvider.get(r.provider) ?? {};
      counts[r.status] = r.count;
      byProvider.set(r.provider, counts);
      byStatus[r.status] = (byStatus[r.status] ?? 0) + r.count;
    }
    const list = [...byProvider].map(([provider, counts]) => ({ provider, counts, total: Object.values(counts).reduce((a, b) => a + b, 0) }));
    return { rows: list, byStatus, total: list.reduce((n, r) => n + r.total, 0) };
  }

  /** Refresh failures per hour (an `error` or `denied` refresh) and release outcomes, since `start`. */
  private async activity(tenant: TenantId, start: Date) {
    const rows = await this.audit.countPerHour(tenant, start, { 'connection.refresh': ['error', 'denied'], 'credential.release': [] });
    const failures: number[] = Array(CHART_HOURS).fill(0);
    const releases = { allowed: 0, denied: 0, error: 0 };
    for (const r of rows) {
      if (r.action === 'connection.refresh') {
        // A clock a little ahead of the database's lands in the last hour rather than nowhere.
        failures[Math.min(CHART_HOURS - 1, Math.max(0, r.hour))] += r.count;
      } else releases[r.outcome as keyof typeof releases] += r.count;
    }
    return { failures, releases };
  }
}
