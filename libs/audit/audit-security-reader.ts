import type { DataSource } from 'typeorm';
import { query } from './audit-reader';

/**
 * Which tenants a security reader covers: one tenant's admin sees that tenant only; an operator
 * (`null`) sees every tenant, and the unattributed refusals that belong to none.
 */
export type AuditTenantScope = readonly string[] | null;

/** Refused requests counted by tenant, action, reason, issuer and client (what the caller claimed when unauthenticated). */
export interface AuditRefusalCount {
  tenant: string;
  action: string;
  reason: string | null;
  issuer: string | null;
  client: string | null;
  count: number;
}

/** A change an admin made: what, to which agent or integration, by whom and when. */
export interface AuditAdminChange {
  at: string;
  action: string;
  tenant: string;
  by: string | null;
  target: string | null;
}

/** Bounds the table: a flood of refusals from many clients shows its biggest groups, not every one. */
const MAX_GROUPS = 100;

/**
 * Refused tokens (the auth guards' rejection sink writes `details.route`) and refused token
 * exchanges since `start`. Identity columns come from verified tokens only; `client` falls back
 * to the client id an unauthenticated caller claimed, which is what a security reader needs to see.
 */
export function countAuditRefusals(
  ds: DataSource,
  scope: AuditTenantScope,
  start: Date,
  /** The token endpoint's actions (`token.exchange`, `token.issue`): their refusals are counted as well. */
  tokenEndpointActions: readonly string[],
): Promise<AuditRefusalCount[]> {
  return query<AuditRefusalCount>(
    ds,
    `SELECT tenant, action, reason, details->>'issuer' AS issuer, coalesce(agent, details->>'claimed_client_id') AS client, count(*)::int AS count
       FROM audit_events
      WHERE ($1::text[] IS NULL OR tenant = ANY($1::text[])) AND at >= $2::timestamptz AND outcome = 'denied'
        AND (details ? 'route' OR action = ANY($3::text[]))
      GROUP BY 1, 2, 3, 4, 5 ORDER BY count DESC, 1, 2, 3 LIMIT ${MAX_GROUPS}`,
    [scope, start.toISOString(), tokenEndpointActions],
  );
}

/** The latest `limit` allowed events of `actions` (admin changes), newest first. */
export function listAuditAdminChanges(
  ds: DataSource,
  scope: AuditTenantScope,
  actions: readonly string[],
  limit: number,
): Promise<AuditAdminChange[]> {
  return query<AuditAdminChange>(
    ds,
    `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, action, tenant, details->>'by' AS by,
            coalesce(integration, agent, details->>'policy', details->>'target') AS target
       FROM audit_events
      WHERE ($1::text[] IS NULL OR tenant = ANY($1::text[])) AND action = ANY($2::text[]) AND outcome = 'allowed'
      ORDER BY seq DESC LIMIT $3`,
    [scope, actions, limit],
  );
}
