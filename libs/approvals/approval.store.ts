import { Injectable } from '@nestjs/common';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { TenantId } from '../kernel';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'issued';

/** One backchannel authentication request (an `approvals` row), as the use cases read it. */
export interface Approval {
  id: string;
  tenant: TenantId;
  agent: string;
  subject: string;
  claims: Record<string, unknown>;
  scopes: string[];
  /** The identifier of the tenant's resource whose scopes are asked for (RFC 8707); null: `connections:` scopes. */
  resource: string | null;
  bindingMessage: string | null;
  authorizationDetails: unknown[] | null;
  status: ApprovalStatus;
  ttlSeconds: number;
  intervalSeconds: number;
  expiresAt: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  approvedUntil: Date | null;
  tokenJti: string | null;
}

export interface NewApproval {
  tenant: TenantId;
  agent: string;
  subject: string;
  claims: Record<string, unknown>;
  scopes: string[];
  resource: string | null;
  bindingMessage: string | null;
  authorizationDetails: unknown[] | null;
  ttlSeconds: number;
  expiresInSeconds: number;
  intervalSeconds: number;
}

/** What one poll found, after moving the row's poll clock. */
export interface PollState {
  approval: Approval;
  /** Polled sooner than the interval allowed (the interval has grown). */
  tooFast: boolean;
  /** The request, or the approval once given, has run out. */
  expired: boolean;
}

/** How much a too-early poll adds to the interval (CIBA §11 / RFC 8628 §3.5: at least 5 s), and its ceiling. */
export const SLOW_DOWN_STEP_SECONDS = 5;
const MAX_INTERVAL_SECONDS = 60;

interface Row {
  id: string;
  tenant: TenantId;
  agent: string;
  subject: string;
  claims: Record<string, unknown>;
  scopes: string[];
  resource: string | null;
  binding_message: string | null;
  authorization_details: unknown[] | null;
  status: ApprovalStatus;
  ttl_seconds: number;
  interval_seconds: number;
  expires_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  approved_until: Date | null;
  token_jti: string | null;
}

const COLUMNS = `id, tenant, agent, subject, claims, scopes, resource, binding_message, authorization_details, status, ttl_seconds,
  interval_seconds, expires_at, decided_at, decided_by, approved_until, token_jti`;

const A_COLUMNS = COLUMNS.split(',')
  .map((c) => `a.${c.trim()}`)
  .join(', ');

/** TypeORM answers an UPDATE … RETURNING as `[rows, count]` and a SELECT as `rows`. */
function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as T[];
}

function toApproval(r: Row): Approval {
  return {
    id: r.id,
    tenant: r.tenant,
    agent: r.agent,
    subject: r.subject,
    claims: r.claims,
    scopes: r.scopes,
    resource: r.resource,
    bindingMessage: r.binding_message,
    authorizationDetails: r.authorization_details,
    status: r.status,
    ttlSeconds: r.ttl_seconds,
    intervalSeconds: r.interval_seconds,
    expiresAt: r.expires_at,
    decidedAt: r.decided_at,
    decidedBy: r.decided_by,
    approvedUntil: r.approved_until,
    tokenJti: r.token_jti,
  };
}

/** The SHA-256 of an `auth_req_id`: all the database keeps of it. */
export function authReqHash(authReqId: string): Buffer {
  return createHash('sha256').update(authReqId).digest();
}

/** A well-formed `auth_req_id` (what `create` hands out): anything else is unknown without a query. */
export const AUTH_REQ_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * The `approvals` table. State changes are single conditional statements, so two browsers (or a
 * replayed form) and two polls cannot both win: approve/deny only a pending, unexpired row; issue only
 * an approved, unexpired one, once.
 */
@Injectable()
export class ApprovalStore {
  constructor(private readonly ds: DataSource) {}

  /**
   * Unanswered, unexpired requests of one agent for one user: each one mails the user, so an agent
   * may not have many at once.
   */
  async pendingCount(tenant: TenantId, agent: string, subject: string): Promise<number> {
    const rows: Array<{ n: number }> = await this.ds.query(
      `SELECT count(*)::int AS n FROM approvals WHERE tenant = $1 AND agent = $2 AND subject = $3 AND status = 'pending' AND expires_at > now()`,
      [tenant, agent, subject],
    );
    return rows[0]?.n ?? 0;
  }

  /** Inserts the request through `m` (the caller's transaction); answers its id and the agent's `auth_req_id`. */
  async create(m: EntityManager, a: NewApproval): Promise<{ id: string; authReqId: string }> {
    // Requests over for a day are of no further use (the audit log keeps their story): each new one sweeps a bounded batch.
    await m.query(
      `DELETE FROM approvals WHERE id IN (SELECT id FROM approvals
        WHERE expires_at < now() - interval '1 day' AND (approved_until IS NULL OR approved_until < now() - interval '1 day') LIMIT 100)`,
    );
    const id = randomUUID();
    const authReqId = randomBytes(32).toString('base64url');
    await m.query(
      `INSERT INTO approvals (id, tenant, auth_req_hash, agent, subject, claims, scopes, binding_message, authorization_details,
         ttl_seconds, interval_seconds, expires_at, resource)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + make_interval(secs => $12), $13)`,
      [
        id,
        a.tenant,
        authReqHash(authReqId),
        a.agent,
        a.subject,
        JSON.stringify(a.claims),
        a.scopes,
        a.bindingMessage,
        a.authorizationDetails === null ? null : JSON.stringify(a.authorizationDetails),
        a.ttlSeconds,
        a.intervalSeconds,
        a.expiresInSeconds,
        a.resource,
      ],
    );
    return { id, authReqId };
  }

  async get(tenant: TenantId, id: string): Promise<Approval | undefined> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) return undefined;
    const rows: Row[] = await this.ds.query(`SELECT ${COLUMNS} FROM approvals WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return rows[0] ? toApproval(rows[0]) : undefined;
  }

  /** The user's unanswered, unexpired requests, newest first (bounded: the account page lists them). */
  async pendingFor(tenant: TenantId, subject: string): Promise<Approval[]> {
    const rows: Row[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM approvals WHERE tenant = $1 AND subject = $2 AND status = 'pending' AND expires_at > now()
        ORDER BY created_at DESC LIMIT 20`,
      [tenant, subject],
    );
    return rows.map(toApproval);
  }

  /** Who may poll it (tenant and agent), read without changing it: the client is authenticated in that tenant first. */
  async peek(authReqId: string): Promise<{ tenant: TenantId; agent: string } | undefined> {
    if (!AUTH_REQ_ID.test(authReqId)) return undefined;
    const rows: Array<{ tenant: TenantId; agent: string }> = await this.ds.query(
      `SELECT tenant, agent FROM approvals WHERE auth_req_hash = $1`,
      [authReqHash(authReqId)],
    );
    return rows[0];
  }

  /**
   * One poll: moves the poll clock, and when a pending request is polled before its interval has
   * passed, grows the interval (the agent must slow down from then on).
   */
  async poll(authReqId: string): Promise<PollState | undefined> {
    const rows = rowsOf<Row & { too_fast: boolean; expired: boolean }>(
      await this.ds.query(
        `WITH prev AS (
         SELECT id, last_polled_at IS NOT NULL AND last_polled_at > now() - make_interval(secs => interval_seconds) AS too_fast
           FROM approvals WHERE auth_req_hash = $1 FOR UPDATE)
       UPDATE approvals a SET last_polled_at = now(),
              interval_seconds = CASE WHEN prev.too_fast AND a.status = 'pending' THEN least(a.interval_seconds + $2, $3)
                                      ELSE a.interval_seconds END
         FROM prev WHERE a.id = prev.id
       RETURNING ${A_COLUMNS}, prev.too_fast AND a.status = 'pending' AS too_fast,
                 CASE WHEN a.status = 'approved' THEN a.approved_until <= now() ELSE a.expires_at <= now() END AS expired`,
        [authReqHash(authReqId), SLOW_DOWN_STEP_SECONDS, MAX_INTERVAL_SECONDS],
      ),
    );
    const r = rows[0];
    return r ? { approval: toApproval(r), tooFast: r.too_fast, expired: r.expired } : undefined;
  }

  /** Approve or deny a pending, unexpired request, once; false when it was not (answered already, or expired). */
  async decide(tenant: TenantId, id: string, approve: boolean, by: string): Promise<Approval | undefined> {
    const rows = rowsOf<Row>(
      await this.ds.query(
        `UPDATE approvals SET status = $3, decided_at = now(), decided_by = $4,
              approved_until = CASE WHEN $3 = 'approved' THEN now() + make_interval(secs => ttl_seconds) END
        WHERE tenant = $1 AND id = $2 AND status = 'pending' AND expires_at > now()
        RETURNING ${COLUMNS}`,
        [tenant, id, approve ? 'approved' : 'denied', by],
      ),
    );
    return rows[0] ? toApproval(rows[0]) : undefined;
  }

  /** Marks an approved, unexpired request as used by the token `jti`; false when another poll won, or it ran out. */
  async markIssued(id: string, jti: string): Promise<boolean> {
    const rows = rowsOf<unknown>(
      await this.ds.query(
        `UPDATE approvals SET status = 'issued', token_jti = $2 WHERE id = $1 AND status = 'approved' AND approved_until > now() RETURNING id`,
        [id, jti],
      ),
    );
    return rows.length > 0;
  }
}
