import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { ensureTenant } from '../db';
import { TenantId } from '../kernel';

export type ConnectSessionStatus = 'pending' | 'claimed' | 'authorizing' | 'exchanging' | 'completed' | 'cancelled' | 'failed';

export interface ConnectSession {
  id: string;
  tenant: TenantId;
  integration: string;
  subject: string;
  returnUrl: string | null;
  expectedEmail: string | null;
  expectedSubject: string | null;
  /** How the app names the user the link is for (shown, escaped, on the consent page), or null. */
  userDisplayName: string | null;
  createdBy: string;
  status: ConnectSessionStatus;
  errorCode: string | null;
  expiresAt: Date;
  browserExpiresAt: Date | null;
  browserHash: Buffer | null;
}

export interface NewConnectSession {
  tenant: TenantId;
  integration: string;
  subject: string;
  returnUrl: string | null;
  expectedEmail?: string | null;
  expectedSubject?: string | null;
  userDisplayName?: string | null;
  createdBy: string;
  ttlSeconds: number;
}

/** A `connect_sessions` row as `toSession` reads it (the one row type of the table; the sealed verifier is read by `consumeState` only). */
interface ConnectSessionRow {
  id: string;
  tenant: string;
  integration: string;
  subject: string;
  return_url: string | null;
  expected_email: string | null;
  expected_subject: string | null;
  user_display_name: string | null;
  created_by: string;
  status: ConnectSessionStatus;
  error_code: string | null;
  expires_at: Date;
  browser_expires_at: Date | null;
  browser_hash: Buffer | null;
  dek_wrapped: Buffer | null;
  code_verifier_ct: Buffer | null;
}

const COLUMNS = `id, tenant, integration, subject, return_url, expected_email, expected_subject, user_display_name, created_by,
  status, error_code,
  expires_at, browser_expires_at, browser_hash`;

/** What `COLUMNS` selects. */
type SessionRow = Omit<ConnectSessionRow, 'dek_wrapped' | 'code_verifier_ct'>;
/** An UPDATE … RETURNING through TypeORM: the rows and the count. */
type Returned<R> = [R[], number];

/**
 * Connect sessions. Every transition is one conditional UPDATE, so a URL is claimed by one
 * browser only and a `state` is consumed once, however many requests race for it.
 */
@Injectable()
export class ConnectSessionStore {
  constructor(private readonly ds: DataSource) {}

  async create(s: NewConnectSession, urlHash: Buffer): Promise<{ id: string; expiresAt: Date }> {
    await this.prepare(s.tenant);
    return insert(this.ds, s, urlHash);
  }

  /**
   * A session offered to an agent, unless `max` offered sessions for this user and integration are
   * still unopened and unexpired (an agent retrying a release must not mint sessions without end).
   * The count and the insert are serialised per (tenant, user, integration) by an advisory lock.
   */
  async createOffered(s: NewConnectSession, urlHash: Buffer, max: number): Promise<{ id: string; expiresAt: Date } | undefined> {
    await this.prepare(s.tenant);
    return this.ds.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 3))`, [
        JSON.stringify(['connect-offer', s.tenant, s.subject, s.integration]),
      ]);
      const [{ n }]: Array<{ n: number }> = await m.query(
        `SELECT count(*)::int AS n FROM connect_sessions
          WHERE tenant = $1 AND subject = $2 AND integration = $3 AND status = 'pending'
           AND expires_at > now() AND created_by LIKE 'agent:%'`,
        [s.tenant, s.subject, s.integration],
      );
      return n >= max ? undefined : insert(m, s, urlHash);
    });
  }

  /**
   * The tenant row, and housekeeping on the way in. A flow abandoned at the provider can never be
   * finished once its browser session ended (`consumeState` requires it), so its sealed verifier
   * goes at once: it would only pin a tenant-key version. The row goes a day later.
   */
  private async prepare(tenant: TenantId): Promise<void> {
    await ensureTenant(this.ds, tenant);
    await this.ds.query(
      `UPDATE connect_sessions SET state_hash = NULL, code_verifier_ct = NULL, dek_wrapped = NULL, tk_version = NULL
        WHERE tenant = $1 AND tk_version IS NOT NULL AND browser_expires_at < now()`,
      [tenant],
    );
    await this.ds.query(
      `DELETE FROM connect_sessions WHERE tenant = $1 AND COALESCE(browser_expires_at, expires_at) < now() - interval '1 day'`,
      [tenant],
    );
  }

  /** The first browser to open an unexpired URL claims it; any later one gets nothing. */
  async claim(urlHash: Buffer, browserHash: Buffer, browserTtlSeconds: number): Promise<ConnectSession | undefined> {
    const [rows]: Returned<SessionRow> = await this.ds.query(
      `UPDATE connect_sessions
        SET status = 'claimed', browser_hash = $2, browser_expires_at = now() + ($3::int * interval '1 second'), updated_at = now()
        WHERE url_hash = $1 AND status = 'pending' AND expires_at > now() RETURNING ${COLUMNS}`,
      [urlHash, browserHash, browserTtlSeconds],
    );
    return rows[0] && toSession(rows[0]);
  }

  /** A new session for an already authenticated browser (reconnect from the connections page). */
  async createClaimed(s: NewConnectSession, urlHash: Buffer, browserHash: Buffer, browserTtlSeconds: number): Promise<ConnectSession> {
    const { id } = await this.create(s, urlHash);
    const [rows]: Returned<SessionRow> = await this.ds.query(
      `UPDATE connect_sessions SET status = 'claimed', browser_hash = $2, browser_expires_at = now() + ($3::int * interval '1 second')
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, browserHash, browserTtlSeconds],
    );
    return toSession(rows[0]);
  }

  async byUrlHash(urlHash: Buffer): Promise<ConnectSession | undefined> {
    const rows: SessionRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM connect_sessions WHERE url_hash = $1`, [urlHash]);
    return rows[0] && toSession(rows[0]);
  }

  async byId(id: string): Promise<ConnectSession | undefined> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
    const rows: SessionRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM connect_sessions WHERE id = $1`, [id]);
    return rows[0] && toSession(rows[0]);
  }

  async byState(stateHash: Buffer): Promise<ConnectSession | undefined> {
    const rows: SessionRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM connect_sessions WHERE state_hash = $1`, [stateHash]);
    return rows[0] && toSession(rows[0]);
  }

  /** Records a fresh `state` and sealed PKCE verifier; an earlier `state` of this session stops working. */
  async startAuthorization(
    id: string,
    stateHash: Buffer,
    sealed: { tkVersion: number; dekWrapped: Buffer; verifierCt: Buffer | null },
  ): Promise<boolean> {
    const [, n]: Returned<never> = await this.ds.query(
      `UPDATE connect_sessions
        SET status = 'authorizing', state_hash = $2, tk_version = $3, dek_wrapped = $4, code_verifier_ct = $5, error_code = NULL,
          updated_at = now()
        WHERE id = $1 AND status IN ('claimed', 'authorizing', 'failed') AND browser_expires_at > now()`,
      [id, stateHash, sealed.tkVersion, sealed.dekWrapped, sealed.verifierCt],
    );
    return n > 0;
  }

  /** Consumes a `state` exactly once; returns the sealed verifier of the session it belonged to. */
  async consumeState(id: string, stateHash: Buffer): Promise<{ dekWrapped: Buffer | null; verifierCt: Buffer | null } | undefined> {
    const [rows]: Returned<Pick<ConnectSessionRow, 'dek_wrapped' | 'code_verifier_ct'>> = await this.ds.query(
      `UPDATE connect_sessions SET status = 'exchanging', state_hash = NULL, updated_at = now()
        WHERE id = $1 AND state_hash = $2 AND status = 'authorizing' AND browser_expires_at > now()
        RETURNING dek_wrapped, code_verifier_ct`,
      [id, stateHash],
    );
    return rows[0] && { dekWrapped: rows[0].dek_wrapped, verifierCt: rows[0].code_verifier_ct };
  }

  /** Ends a flow; the sealed verifier goes with it. */
  async finish(id: string, status: 'completed' | 'cancelled' | 'failed', errorCode: string | null = null): Promise<void> {
    await this.ds.query(
      `UPDATE connect_sessions
        SET status = $2, error_code = $3, state_hash = NULL, code_verifier_ct = NULL, dek_wrapped = NULL, tk_version = NULL,
          updated_at = now()
        WHERE id = $1 AND status NOT IN ('completed', 'cancelled')`,
      [id, status, errorCode],
    );
  }
}

async function insert(q: DataSource | EntityManager, s: NewConnectSession, urlHash: Buffer): Promise<{ id: string; expiresAt: Date }> {
  const rows: Array<Pick<ConnectSessionRow, 'id' | 'expires_at'>> = await q.query(
    `INSERT INTO connect_sessions (id, tenant, integration, subject, return_url, expected_email, expected_subject, created_by,
      url_hash, expires_at, user_display_name)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + ($10::int * interval '1 second'), $11) RETURNING id, expires_at`,
    [
      randomUUID(),
      s.tenant,
      s.integration,
      s.subject,
      s.returnUrl,
      s.expectedEmail ?? null,
      s.expectedSubject ?? null,
      s.createdBy,
      urlHash,
      s.ttlSeconds,
      s.userDisplayName ?? null,
    ],
  );
  return { id: rows[0].id, expiresAt: rows[0].expires_at };
}

/** The one mapper of a `connect_sessions` row. */
function toSession(r: SessionRow): ConnectSession {
  return {
    id: r.id,
    tenant: r.tenant as TenantId,
    integration: r.integration,
    subject: r.subject,
    returnUrl: r.return_url,
    expectedEmail: r.expected_email,
    expectedSubject: r.expected_subject,
    userDisplayName: r.user_display_name,
    createdBy: r.created_by,
    status: r.status,
    errorCode: r.error_code,
    expiresAt: r.expires_at,
    browserExpiresAt: r.browser_expires_at,
    browserHash: r.browser_hash,
  };
}
