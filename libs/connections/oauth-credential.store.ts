import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { SealedFields, SealedWrite } from '../crypto';
import { DomainError, Secret, TenantId } from '../kernel';
import { REFRESH_AHEAD } from '../oauth';
import { CONNECTION_EVENTS, ConnectionEvent, ConnectionEvents, Queryable } from './connection-events';
import { Connection, connectionColumns, ConnectionRow, toConnection } from './connection-row';
import { connectionRef } from './connection.store';

/** An OAuth credential as the connect flow or a refresh produced it. */
export interface OAuthCredential {
  accessToken: Secret;
  refreshToken: Secret | null;
  expiresAt: Date | null;
  refreshTokenExpiresAt: Date | null;
  scopes: string[];
  metadata: Record<string, unknown>;
  providerAccountId?: string | null;
  /** The account's e-mail as the provider reported it at connect time (not a secret; shown to the user). */
  providerAccountEmail?: string | null;
}

/** What a refresh needs of a connection (mapped from the row once, by `toConnection`). */
export type RefreshableConnection = Pick<
  Connection,
  | 'id'
  | 'tenant'
  | 'integration'
  | 'subject'
  | 'status'
  | 'version'
  | 'expiresAt'
  | 'scopes'
  | 'dekWrapped'
  | 'accessTokenCt'
  | 'refreshTokenCt'
  | 'leaseOwner'
  | 'leaseExpiresAt'
  | 'refreshFailures'
  | 'interruptedOwner'
  | 'callStartedAt'
  | 'tokenIssuedAt'
>;

/** A connection this refresher now holds the lease of. */
export interface ClaimedConnection extends Connection {
  /** Set when the lease was taken over from a refresher that never gave it back (crashed, stalled): its provider call may have happened. */
  takenOverFrom: string | null;
  /** Local clock just before the claim was sent: the lease runs out no sooner than `claimedAt + lease`. */
  claimedAt: number;
  /** Milliseconds since `callStartedAt` by the database's clock (null when no call is outstanding). */
  callAgeMs: number | null;
}

/**
 * A compare-and-set's outcome, in one round trip: the row as the write left it, or, when the
 * condition no longer held, the row as it now stands (its latest committed version; undefined:
 * deleted). Nobody re-reads after a compare-and-set: the answer is in the result.
 */
export type CasResult = { written: true; row: Connection } | { written: false; row: Connection | undefined };

/** The worker's first schedule for a fresh credential: its provider's `refresh.aheadSeconds` (`ahead`) before expiry. */
const nextRefresh = (refresh: string, expires: string, ahead: string) =>
  `CASE WHEN ${refresh}::bytea IS NOT NULL AND ${expires}::timestamptz IS NOT NULL THEN ${expires}::timestamptz - make_interval(secs => ${ahead}::int) END`;

/**
 * Writes of OAuth credentials: connect/reconnect (one upsert, a fresh DEK, version + 1) and the
 * refresh protocol (lease, compare-and-set on version and lease owner). Both tokens of a record
 * are sealed together under one DEK, so a commit replaces them atomically.
 */
@Injectable()
export class OAuthCredentialStore {
  constructor(
    private readonly ds: DataSource,
    private readonly sealed: SealedFields,
    private readonly audit: AuditLog,
    @Inject(CONNECTION_EVENTS) private readonly events: ConnectionEvents,
  ) {}

  /**
   * One compare-and-set on a connection (`$1` tenant, `$2` id; `set` and `where` use `$3…`). When it
   * wrote, `event` joins the outbox in the same transaction. When it did not, the same statement
   * returns the row as it now stands: `FOR UPDATE` reads the latest committed version (a plain read
   * would see the statement's snapshot, older than the write that made the condition fail).
   */
  private async cas(set: string, where: string, params: unknown[], event?: ConnectionEvent): Promise<CasResult> {
    const sql = `WITH w AS (UPDATE connections SET ${set}, updated_at = now() WHERE tenant = $1 AND id = $2 AND ${where}
         RETURNING ${COLUMNS}),
       cur AS (SELECT ${COLUMNS} FROM connections WHERE tenant = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM w) FOR UPDATE)
       SELECT true AS written, * FROM w UNION ALL SELECT false AS written, * FROM cur`;
    const run = async (db: Queryable): Promise<CasResult> => {
      const [r] = (await db.query(sql, params)) as Array<ConnectionRow & { written: boolean }>;
      if (r?.written) return { written: true, row: toConnection(r) };
      return { written: false, row: r ? toConnection(r) : undefined };
    };
    if (!event) return run(this.ds);
    const sink = this.events;
    return this.ds.transaction(async (m) => {
      const result = await run(m);
      if (result.written) await sink.enqueue(m, event);
      return result;
    });
  }

  /** Connects or reconnects: the previous credential (and its DEK) is replaced in one statement. */
  async put(
    tenant: TenantId,
    integration: string,
    subject: string,
    c: OAuthCredential,
    aheadSeconds: number = REFRESH_AHEAD.aheadSeconds,
  ): Promise<{ id: string; version: number; created: boolean }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const [existing]: Array<Pick<ConnectionRow, 'id' | 'status'>> = await this.ds.query(
        `SELECT id, status FROM connections WHERE tenant = $1 AND integration = $2 AND subject = $3`,
        [tenant, integration, subject],
      );
      const id: string = existing?.id ?? randomUUID();
      const sink = this.events;
      const upsert = async (db: Queryable, sealed: Sealed) => {
        const rows = (await db.query(
          `INSERT INTO connections (id, tenant, integration, subject, kind, status, tk_version, dek_wrapped, access_token_ct, refresh_token_ct,
             expires_at, refresh_token_expires_at, scopes, metadata, provider_account_id, next_refresh_at, token_issued_at,
             provider_account_email)
           VALUES ($1, $2, $3, $4, 'oauth2', 'active', $5, $6, $7, $8, $9, $10, $11, $12, $13, ${nextRefresh('$8', '$9', '$14')},
             now(), $15)
           ON CONFLICT (tenant, integration, subject) DO UPDATE SET tk_version = EXCLUDED.tk_version, dek_wrapped = EXCLUDED.dek_wrapped,
             access_token_ct = EXCLUDED.access_token_ct, refresh_token_ct = EXCLUDED.refresh_token_ct, api_key_ct = NULL,
             expires_at = EXCLUDED.expires_at, refresh_token_expires_at = EXCLUDED.refresh_token_expires_at, scopes = EXCLUDED.scopes,
             metadata = EXCLUDED.metadata, provider_account_id = EXCLUDED.provider_account_id,
             provider_account_email = EXCLUDED.provider_account_email, next_refresh_at = EXCLUDED.next_refresh_at,
             token_issued_at = EXCLUDED.token_issued_at,
             status = 'active', version = connections.version + 1, lease_owner = NULL, lease_expires_at = NULL,
             last_error_class = NULL, last_refresh_at = NULL, refresh_failures = 0, interrupted_owner = NULL,
             refresh_call_started_at = NULL, updated_at = now()
           WHERE connections.id = EXCLUDED.id
           RETURNING id, version, (xmax = 0) AS created`,
          [
            id,
            tenant,
            integration,
            subject,
            sealed.tkVersion,
            sealed.dekWrapped,
            sealed.access,
            sealed.refresh,
            c.expiresAt,
            c.refreshTokenExpiresAt,
            c.scopes,
            JSON.stringify(c.metadata),
            c.providerAccountId ?? null,
            aheadSeconds,
            c.providerAccountEmail?.slice(0, 320) ?? null,
          ],
        )) as Array<{ id: string; version: string; created: boolean }>;
        // A new account, or one that was broken and works again, is news for the tenant's backend.
        const type = rows[0]?.created
          ? 'connection.created'
          : existing && existing.status !== 'active'
            ? 'connection.recovered'
            : undefined;
        if (type) await sink.enqueue(db, { tenant, type, data: { connection_id: id, integration, user: subject, status: 'active' } });
        return rows;
      };
      const rows = await this.sealed.write(connectionRef(tenant, id, integration, subject), plaintextOf(c), (s) => {
        const sealed = sealedTokens(s);
        return this.ds.transaction((m) => upsert(m, sealed));
      });
      if (rows.length) return { id: rows[0].id, version: Number(rows[0].version), created: Boolean(rows[0].created) };
    }
    throw new DomainError('conflict', 'the connection was changed concurrently; retry');
  }

  async load(tenant: TenantId, id: string): Promise<Connection | undefined> {
    const rows: ConnectionRow[] = await this.ds.query(
      `SELECT ${connectionColumns()} FROM connections WHERE tenant = $1 AND id = $2 AND kind = 'oauth2'`,
      [tenant, id],
    );
    return rows[0] ? toConnection(rows[0]) : undefined;
  }

  /**
   * Both tokens, opened, bound to the row's owner columns. Key errors propagate (`KeyUnwrapError`:
   * one generic failure), alarmed and audited as `decrypt_failed` under `action`. A missing access
   * token is such a failure; a missing refresh token is not (some grants have none).
   */
  async openTokens(c: RefreshableConnection, action = 'connection.refresh'): Promise<{ access: Secret | null; refresh: Secret | null }> {
    const ref = connectionRef(c.tenant, c.id, c.integration, c.subject);
    const alarm = { audit: this.audit, action, subject: c.subject || undefined, integration: c.integration, details: { connection: c.id } };
    const open = async (field: 'access_token' | 'refresh_token', ct: Buffer | null) => {
      if (!ct && field === 'refresh_token') return null;
      const b = await this.sealed.open(ref, { dekWrapped: c.dekWrapped, ct }, field, alarm);
      try {
        return Secret.of(b.toString('utf8'));
      } finally {
        b.fill(0);
      }
    };
    return { access: await open('access_token', c.accessTokenCt), refresh: await open('refresh_token', c.refreshTokenCt) };
  }

  /**
   * Takes the refresh lease if the row is still at `c.version` and nobody holds an unexpired lease.
   * Reports the previous holder when its lease expired without being given back.
   */
  async claimLease(c: RefreshableConnection, owner: string, leaseMs: number): Promise<ClaimedConnection | undefined> {
    const claimedAt = Date.now();
    const [rows]: [ClaimRow[], number] = await this.ds.query(
      `WITH prev AS (
         SELECT tenant, id, lease_owner FROM connections
          WHERE tenant = $1 AND id = $2 AND version = $3 AND status = 'active' AND (lease_expires_at IS NULL OR lease_expires_at < now())
          FOR UPDATE)
       UPDATE connections c SET lease_owner = $4, lease_expires_at = now() + ($5::int * interval '1 millisecond')
         FROM prev WHERE c.tenant = prev.tenant AND c.id = prev.id
       RETURNING ${connectionColumns('c')}, prev.lease_owner AS previous_owner, ${CALL_AGE}`,
      [c.tenant, c.id, c.version, owner, leaseMs],
    );
    return rows[0] ? toClaimed(rows[0], claimedAt) : undefined;
  }

  /**
   * The worker's claim: up to `limit` active connections whose refresh is due, oldest first, that
   * nobody holds (`SKIP LOCKED`: concurrent workers take disjoint batches, and rows a release is
   * committing are passed over, not waited for).
   */
  async claimDue(owner: string, leaseMs: number, limit: number): Promise<ClaimedConnection[]> {
    const claimedAt = Date.now();
    const [rows]: [ClaimRow[], number] = await this.ds.query(
      `WITH due AS (
         SELECT tenant, id, lease_owner FROM connections
          WHERE kind = 'oauth2' AND status = 'active' AND next_refresh_at IS NOT NULL AND next_refresh_at <= now()
            AND (lease_expires_at IS NULL OR lease_expires_at < now())
          ORDER BY next_refresh_at
          LIMIT $3
          FOR UPDATE SKIP LOCKED)
       UPDATE connections c SET lease_owner = $1, lease_expires_at = now() + ($2::int * interval '1 millisecond')
         FROM due WHERE c.tenant = due.tenant AND c.id = due.id
       RETURNING ${connectionColumns('c')}, due.lease_owner AS previous_owner, ${CALL_AGE}`,
      [owner, leaseMs, limit],
    );
    return rows.map((r) => toClaimed(r, claimedAt));
  }

  /** Seconds the oldest due, unclaimed refresh has been waiting (0 when none): the queue's lag. */
  async dueLagSeconds(): Promise<number> {
    const [r]: Array<{ lag: number }> = await this.ds.query(
      `SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(next_refresh_at)), 0)::float8 AS lag FROM connections
        WHERE kind = 'oauth2' AND status = 'active' AND next_refresh_at IS NOT NULL AND next_refresh_at <= now()
          AND (lease_expires_at IS NULL OR lease_expires_at < now())`,
    );
    return Math.max(0, Number(r.lag));
  }

  /** Extends this holder's lease (a commit retrying through a fault). False: the lease or the row moved on. */
  async renewLease(c: RefreshableConnection, owner: string, leaseMs: number): Promise<CasResult> {
    return this.cas(`lease_expires_at = now() + ($5::int * interval '1 millisecond')`, `version = $3 AND lease_owner = $4`, [
      c.tenant,
      c.id,
      c.version,
      owner,
      leaseMs,
    ]);
  }

  /**
   * The one write before a provider call: the row now says a call may rotate its refresh token. Kept
   * at the earliest outstanding call (a retry within a reuse grace window is measured from the first).
   * False when this holder lost the lease or the row moved on: then no call may be made.
   */
  async markCallStarted(c: RefreshableConnection, owner: string): Promise<CasResult> {
    return this.cas(
      `refresh_call_started_at = COALESCE(refresh_call_started_at, now())`,
      `version = $3 AND status = 'active' AND lease_owner = $4 AND lease_expires_at > now()`,
      [c.tenant, c.id, c.version, owner],
    );
  }

  /**
   * Commits a refresh: compare-and-set on version. The (possibly rotated) refresh token goes in with
   * the access token under a fresh DEK, in this one statement, before anything else is attempted;
   * metadata the provider sent is written back.
   *
   * Not on the lease owner (SECURITY 40): while the version is the one the refresher claimed, nobody
   * has written a newer token, and its answer is the latest there is. A successor that took the lease
   * over makes no call of its own for a provider that may rotate (it flags the row, which bumps the
   * version), and for one that never rotates its answer carries the same refresh token. Requiring the
   * lease owner lost the rotated token when the successor died between its takeover and its flag.
   */
  async commitRefresh(
    c: RefreshableConnection,
    next: OAuthCredential,
    nextRefreshAt: Date | null,
    event?: ConnectionEvent,
  ): Promise<CasResult> {
    return this.writeRefresh(c, next, nextRefreshAt, `version = $3 AND status = 'active'`, [], event);
  }

  /**
   * A refresher comes back with the provider's answer after a successor flagged the row
   * `refresh_indeterminate` (and, for that reason, made no call of its own): if the row still holds
   * the refresh token it refreshed (`refreshedCt`, as it read it when it claimed the lease: every
   * commit or reconnect seals anew), its tokens are the latest there are, so they are committed and
   * the row is active again. Matched on the token, not on `interrupted_owner` (SECURITY 40): the
   * flagging successor may have taken the lease over from another successor that died before
   * flagging, and then names that one.
   */
  async rescueRefresh(
    now: RefreshableConnection,
    refreshedCt: Buffer,
    next: OAuthCredential,
    nextRefreshAt: Date | null,
    event?: ConnectionEvent,
  ): Promise<CasResult> {
    return this.writeRefresh(
      now,
      next,
      nextRefreshAt,
      `version = $3 AND status = 'refresh_indeterminate' AND refresh_token_ct = $13`,
      [refreshedCt],
      event,
    );
  }

  private async writeRefresh(
    c: RefreshableConnection,
    next: OAuthCredential,
    nextRefreshAt: Date | null,
    where: string,
    whereParams: unknown[],
    event?: ConnectionEvent,
  ): Promise<CasResult> {
    return this.sealed.write(connectionRef(c.tenant, c.id, c.integration, c.subject), plaintextOf(next), (s) => {
      const sealed = sealedTokens(s);
      return this.cas(
        `tk_version = $4, dek_wrapped = $5, access_token_ct = $6, refresh_token_ct = $7, expires_at = $8,
         refresh_token_expires_at = COALESCE($9, refresh_token_expires_at), scopes = $10, metadata = metadata || $11::jsonb,
         next_refresh_at = $12, version = version + 1, status = 'active', lease_owner = NULL, lease_expires_at = NULL, token_issued_at = now(),
         interrupted_owner = NULL, refresh_failures = 0, last_refresh_at = now(), last_error_class = NULL, refresh_call_started_at = NULL`,
        where,
        [
          c.tenant,
          c.id,
          c.version,
          sealed.tkVersion,
          sealed.dekWrapped,
          sealed.access,
          sealed.refresh,
          next.expiresAt,
          next.refreshTokenExpiresAt,
          next.scopes,
          JSON.stringify(next.metadata),
          nextRefreshAt,
          ...whereParams,
        ],
        event,
      );
    });
  }

  /**
   * Gives the lease back. After a failed attempt the token is kept, the error class recorded and the
   * next attempt scheduled (`retryAt`, the backoff); `failed` extends the streak of failures.
   * `callSettled`: the provider refused the only outstanding call, so nothing can have rotated.
   */
  async releaseLease(
    c: RefreshableConnection,
    owner: string,
    outcome: { errorClass: string | null; retryAt?: Date; failed: boolean; callSettled?: boolean },
    event?: ConnectionEvent,
  ): Promise<CasResult> {
    return this.cas(
      `lease_owner = NULL, lease_expires_at = NULL, last_error_class = COALESCE($4, last_error_class),
         next_refresh_at = COALESCE($5, next_refresh_at), refresh_failures = refresh_failures + $6::int,
         refresh_call_started_at = CASE WHEN $7::boolean THEN NULL ELSE refresh_call_started_at END`,
      `lease_owner = $3`,
      [c.tenant, c.id, owner, outcome.errorClass, outcome.retryAt ?? null, outcome.failed ? 1 : 0, outcome.callSettled ?? false],
      event,
    );
  }

  /**
   * A row flagged `refresh_indeterminate` after its lease was taken over, whose original refresher
   * then learnt the provider refused the call outright (429, 503: not processed), so nothing rotated.
   * Active again, matched on the refresh token it tried (still the stored one); the backoff stands.
   */
  async clearIndeterminate(
    now: RefreshableConnection,
    triedCt: Buffer,
    outcome: { errorClass: string; retryAt: Date },
    event?: ConnectionEvent,
  ): Promise<CasResult> {
    return this.cas(
      `status = 'active', interrupted_owner = NULL, last_error_class = $5, next_refresh_at = $6,
         refresh_failures = refresh_failures + 1, refresh_call_started_at = NULL, lease_owner = NULL, lease_expires_at = NULL, version = version + 1`,
      `version = $3 AND status = 'refresh_indeterminate' AND refresh_token_ct = $4`,
      [now.tenant, now.id, now.version, triedCt, outcome.errorClass, outcome.retryAt],
      event,
    );
  }

  /**
   * The user must reconnect (`needs_reauth`, a terminal provider answer), or nobody knows whether the
   * provider rotated the refresh token (`refresh_indeterminate`; `interruptedOwner` may still commit).
   * Compare-and-set on version. Never deletes anything: the tokens stay for forensics and rescue.
   */
  async markStatus(
    c: RefreshableConnection,
    status: 'needs_reauth' | 'refresh_indeterminate',
    errorClass: string,
    interruptedOwner: string | null = null,
    event?: ConnectionEvent,
  ): Promise<CasResult> {
    return this.cas(
      `status = $4, last_error_class = $5, interrupted_owner = $6, lease_owner = NULL, lease_expires_at = NULL, version = version + 1`,
      `version = $3`,
      [c.tenant, c.id, c.version, status, errorClass, interruptedOwner],
      event,
    );
  }
}

type Sealed = ReturnType<typeof sealedTokens>;

/** Both tokens of a credential as fresh buffers, for the sealing helper to zero. */
function plaintextOf(c: OAuthCredential): Record<string, Buffer | null> {
  return {
    access_token: Buffer.from(c.accessToken.reveal(), 'utf8'),
    refresh_token: c.refreshToken ? Buffer.from(c.refreshToken.reveal(), 'utf8') : null,
  };
}

function sealedTokens(s: SealedWrite) {
  return { tkVersion: s.tkVersion, dekWrapped: s.dekWrapped, access: s.fields.access_token, refresh: s.fields.refresh_token ?? null };
}

const COLUMNS = connectionColumns();

/** A claim's row: the connection, the lease holder it replaced and the outstanding call's age. */
type ClaimRow = ConnectionRow & { previous_owner: string | null; call_age_ms: number | null };

/** A claim's view of the outstanding call's age, by the database's clock (no skew with ours). */
const CALL_AGE = `(EXTRACT(EPOCH FROM (now() - c.refresh_call_started_at)) * 1000)::float8 AS call_age_ms`;

function toClaimed(r: ClaimRow, claimedAt: number): ClaimedConnection {
  return {
    ...toConnection(r),
    takenOverFrom: r.previous_owner,
    claimedAt,
    callAgeMs: r.call_age_ms === null ? null : Number(r.call_age_ms),
  };
}
