import { Injectable } from '@nestjs/common';
import { AuditLog, AuditRefusalCount } from '../../../libs/audit';
import { AuditVerifyService } from '../../../libs/audit-anchors';
import { ConnectionStore } from '../../../libs/connections';
import { KeyStatusService } from '../../../libs/keys';
import { TenantId } from '../../../libs/kernel';
import { TOKEN_EXCHANGE_ACTION, TOKEN_ISSUE_ACTION } from '../../../libs/token-service';

/** The token endpoint's audit actions: token exchange, and the jwt-bearer grants. */
const TOKEN_ENDPOINT_ACTIONS = [TOKEN_EXCHANGE_ACTION, TOKEN_ISSUE_ACTION];

const HOUR_MS = 3_600_000;
export const CHART_HOURS = 24;
const DAY_MS = 24 * HOUR_MS;
/** What counts as an admin change on the security view (integration, agent, policy, key, tenant profile, user sign-in and sessions). */
export const ADMIN_CHANGE_ACTIONS = [
  'integration.put',
  'integration.delete',
  'integration.client_secret',
  'agent.put',
  'agent.delete',
  'agent.rotate',
  'policy.put',
  'policy.delete',
  'key.rotate',
  'key.retire',
  'key.destroy',
  'key.shred',
  'key.reseal',
  'tenant.configure',
  'user_login.configure',
  'user.sessions_revoke',
] as const;
const ADMIN_CHANGES_SHOWN = 20;
export const CONNECTION_STATUSES = ['active', 'needs_reauth', 'refresh_indeterminate', 'revoked'] as const;

export interface DashboardView {
  tenant: string;
  generatedAt: Date;
  connections: {
    rows: Array<{ integration: string; provider: string; counts: Record<string, number>; total: number }>;
    byStatus: Record<string, number>;
    total: number;
  };
  /** Oldest hour first; the last one is the current (partial) hour. */
  refreshFailures: { hours: Array<{ start: Date; count: number }>; total: number };
  releases24h: { allowed: number; denied: number; error: number };
  recentReleases: Array<{
    at: string;
    outcome: string;
    reason: string | null;
    agent: string | null;
    user: string | null;
    integration: string | null;
  }>;
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
  security: SecurityView;
}

/** Counts over the last 24 hours, biggest first. */
type Counted<K extends string> = Array<Record<K, string> & { count: number }>;

/**
 * What a security reader needs. `vault`: an operator's view of every tenant and of the refusals no
 * tenant can be named for (`_unauthenticated`); `tenant`: one tenant's admin, that tenant only.
 */
export interface SecurityView {
  scope: 'vault' | 'tenant';
  refusals: { total: number; byReason: Counted<'reason'>; byIssuer: Counted<'issuer'> };
  invalidClient: { total: number; byClient: Counted<'client'> };
  adminChanges: Array<{ at: string; action: string; tenant: string; by: string | null; target: string | null }>;
  kek: { keyId: string; createdAt: Date | null; ageDays: number | null; periodDays: number };
  tenantKey: { version: number | null; ageDays: number | null; periodDays: number };
}

/**
 * What the operator dashboard shows, for one tenant only. The figures come from the contexts that
 * own them, no SQL here: key status from libs/keys, connections by integration and status from the
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

  /** `operator` (a `vault:operator` token) widens the security view to every tenant and the unattributed refusals. */
  async view(tenant: TenantId, now = new Date(), operator = false): Promise<DashboardView> {
    const windowStart = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS - (CHART_HOURS - 1) * HOUR_MS);
    const scope = operator ? null : [tenant];
    const [connections, activity, recent, keys, auditAnchor, refusals, adminChanges] = await Promise.all([
      this.connections(tenant),
      this.activity(tenant, windowStart),
      this.audit.list(tenant, { action: 'credential.release', limit: 20 }),
      this.keyStatus.status({ operator: false, tenant }),
      this.anchorStatus(now),
      this.audit.countRefusals(scope, new Date(now.getTime() - DAY_MS), TOKEN_ENDPOINT_ACTIONS),
      this.audit.adminChanges(scope, ADMIN_CHANGE_ACTIONS, ADMIN_CHANGES_SHOWN),
    ]);
    const mine = keys.tenants.find((t) => t.tenant === tenant);
    const versions = (mine?.versions ?? []).map((v) => ({
      version: v.version,
      status: v.status,
      records: Object.values(v.records).reduce((a, b) => a + b, 0),
      createdAt: v.created_at,
    }));
    const all = versions.reduce((n, v) => n + v.records, 0);
    const onActive = versions.find((v) => v.version === mine?.active_version)?.records ?? 0;
    return {
      tenant,
      generatedAt: now,
      connections,
      refreshFailures: {
        hours: Array.from({ length: CHART_HOURS }, (_, i) => ({
          start: new Date(windowStart.getTime() + i * HOUR_MS),
          count: activity.failures[i] ?? 0,
        })),
        total: activity.failures.reduce((a, b) => a + b, 0),
      },
      auditAnchor,
      security: {
        scope: operator ? 'vault' : 'tenant',
        ...countRefusals(refusals),
        adminChanges,
        kek: {
          keyId: keys.kek.current_key_id,
          createdAt: keys.kek.current_created_at,
          ageDays: daysSince(keys.kek.current_created_at, now),
          periodDays: keys.kek.period_days,
        },
        tenantKey: {
          version: mine?.active_version ?? null,
          ageDays: daysSince(versions.find((v) => v.version === mine?.active_version)?.createdAt ?? null, now),
          periodDays: keys.tenant_keys.period_days,
        },
      },
      releases24h: activity.releases,
      recentReleases: recent.events.map((e) => ({
        at: e.at,
        outcome: e.outcome,
        reason: e.reason,
        agent: e.agent,
        user: e.user,
        integration: e.integration,
      })),
      keys: {
        activeVersion: mine?.active_version ?? null,
        // Every live version, and the last few destroyed ones (a tenant rotated for years has many).
        versions: [...versions.filter((v) => v.status !== 'destroyed'), ...versions.filter((v) => v.status === 'destroyed').slice(-3)].sort(
          (a, b) => b.version - a.version,
        ),
        onActive: all === 0 ? 1 : onActive / all,
        jobs: keys.jobs
          .filter((j) => j.tenant === tenant)
          .slice(0, 5)
          .map((j) => ({
            kind: j.kind,
            status: j.status,
            done: j.done,
            total: j.total,
            progress: j.progress,
            createdAt: j.created_at,
            finishedAt: j.finished_at,
          })),
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
    // By integration, not provider type: two integrations of one provider are different credentials.
    const byIntegration = new Map<string, { provider: string; counts: Record<string, number> }>();
    const byStatus: Record<string, number> = Object.fromEntries(CONNECTION_STATUSES.map((s) => [s, 0]));
    for (const r of await this.connectionStore.countByIntegrationAndStatus(tenant)) {
      const row = byIntegration.get(r.integration) ?? { provider: r.provider, counts: {} };
      row.counts[r.status] = r.count;
      byIntegration.set(r.integration, row);
      byStatus[r.status] = (byStatus[r.status] ?? 0) + r.count;
    }
    const list = [...byIntegration].map(([integration, r]) => ({
      integration,
      provider: r.provider,
      counts: r.counts,
      total: Object.values(r.counts).reduce((a, b) => a + b, 0),
    }));
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

function daysSince(d: Date | null, now: Date): number | null {
  return d === null ? null : Math.max(0, Math.floor((now.getTime() - new Date(d).getTime()) / DAY_MS));
}

/** Refused tokens by reason and issuer (unverified tokens have none); refused client authentication by client. */
export function countRefusals(rows: AuditRefusalCount[]): Pick<SecurityView, 'refusals' | 'invalidClient'> {
  const tally = (into: Map<string, number>, key: string, n: number) => into.set(key, (into.get(key) ?? 0) + n);
  const reasons = new Map<string, number>();
  const issuers = new Map<string, number>();
  const clients = new Map<string, number>();
  let refused = 0;
  let invalidClient = 0;
  for (const r of rows) {
    if (TOKEN_ENDPOINT_ACTIONS.includes(r.action)) {
      if (r.reason !== 'invalid_client') continue;
      invalidClient += r.count;
      tally(clients, r.client ?? '(none given)', r.count);
    } else {
      refused += r.count;
      tally(reasons, r.reason ?? 'unknown', r.count);
      tally(issuers, r.issuer ?? '(not verified)', r.count);
    }
  }
  const sorted = <K extends string>(m: Map<string, number>, k: K) =>
    [...m]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([key, count]) => ({ [k]: key, count }) as Record<K, string> & { count: number });
  return {
    refusals: { total: refused, byReason: sorted(reasons, 'reason'), byIssuer: sorted(issuers, 'issuer') },
    invalidClient: { total: invalidClient, byClient: sorted(clients, 'client') },
  };
}
