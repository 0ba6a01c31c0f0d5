import type { DataSource } from 'typeorm';
import { isDatabaseUnavailable } from '../db';
import { TenantId, UnavailableError } from '../kernel';
import { AuditEventView, AuditOutcome, AuditPage } from './audit.types';
import { encodeCursor, ParsedAuditQuery } from './audit-query';

interface EventRow {
  seq: string;
  id: string;
  at: string;
  action: string;
  outcome: AuditOutcome;
  reason: string | null;
  agent: string | null;
  subject: string | null;
  integration: string | null;
  details: Record<string, unknown>;
}

const SELECT = `SELECT seq::text AS seq, id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
  action, outcome, reason, agent, subject, integration, details FROM audit_events e`;

/**
 * One page of a tenant's events, newest first, keyset-paginated on seq. Every value is a
 * bound parameter; the filter set is fixed by `parseAuditQuery`.
 */
export async function listAuditEvents(ds: DataSource, tenant: TenantId, q: ParsedAuditQuery): Promise<AuditPage> {
  const params: unknown[] = [tenant];
  const where = ['e.tenant = $1'];
  const filter = (column: string, op: string, value: string | undefined): void => {
    if (value !== undefined) where.push(`${column} ${op} $${params.push(value)}`);
  };
  filter('e.action', '=', q.action);
  filter('e.outcome', '=', q.outcome);
  filter('e.agent', '=', q.agent);
  filter('e.subject', '=', q.subject);
  filter('e.integration', '=', q.integration);
  // An approval's chain (issue 17 §3): request, answer, token, releases all carry `details.approval`.
  if (q.approval !== undefined) where.push(`e.details ? 'approval' AND e.details->>'approval' = $${params.push(q.approval)}`);
  filter('e.at', '>=', q.since);
  filter('e.at', '<', q.until);
  filter('e.seq', '<', q.beforeSeq);
  // e.seq: order by the bigint column, not the text alias of the select list.
  const sql = `${SELECT} WHERE ${where.join(' AND ')} ORDER BY e.seq DESC LIMIT $${params.push(q.limit + 1)}`;

  const rows = await query(ds, sql, params);
  const page = rows.slice(0, q.limit);
  return {
    events: page.map(toView),
    ...(rows.length > q.limit ? { next: encodeCursor(page[page.length - 1].seq) } : {}),
  };
}

/** Events counted per (action, outcome) and hour since `start` (hour 0 starts at `start`), for the actions asked about. */
export interface AuditHourlyCount {
  action: string;
  outcome: string;
  hour: number;
  count: number;
}

/** One tenant's hourly counts for `actions` (each with the outcomes to count; empty: all) since `start`. */
export async function countAuditEventsPerHour(
  ds: DataSource,
  tenant: TenantId,
  start: Date,
  actions: Record<string, readonly string[]>,
): Promise<AuditHourlyCount[]> {
  const params: unknown[] = [tenant, start.toISOString()];
  const match = Object.entries(actions).map(([action, outcomes]) => {
    const a = `action = $${params.push(action)}`;
    return outcomes.length ? `(${a} AND outcome = ANY($${params.push(outcomes)}::text[]))` : `(${a})`;
  });
  if (!match.length) return [];
  return query<AuditHourlyCount>(
    ds,
    `SELECT action, outcome, floor(extract(epoch FROM at - $2::timestamptz) / 3600)::int AS hour, count(*)::int AS count
       FROM audit_events WHERE tenant = $1 AND at >= $2::timestamptz AND (${match.join(' OR ')})
      GROUP BY 1, 2, 3`,
    params,
  );
}

export async function query<R = EventRow>(ds: DataSource, sql: string, params: unknown[]): Promise<R[]> {
  try {
    return (await ds.query(sql, params)) as R[];
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw new UnavailableError('database');
    // A QueryFailedError carries the SQL and the parameters: keep neither.
    const code = (err as { driverError?: { code?: unknown } }).driverError?.code;
    throw new Error(`audit query failed (${typeof code === 'string' ? code : 'unknown'})`);
  }
}

function toView(r: EventRow): AuditEventView {
  return {
    id: r.id,
    at: r.at,
    action: r.action,
    outcome: r.outcome,
    reason: r.reason,
    agent: r.agent,
    user: r.subject,
    integration: r.integration,
    details: r.details,
  };
}
