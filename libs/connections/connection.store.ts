import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { AuditLog } from '../audit';
import { DecryptAlarm, KeyUnwrapError, RecordRef, SealedFields } from '../crypto';
import { pgPool, PreparedRead } from '../db';
import { DomainError, TenantId } from '../kernel';
import { CONNECTION_EVENTS, ConnectionEvent, ConnectionEvents, Queryable } from './connection-events';
import { Connection, connectionColumns, ConnectionRow, summaryOf, toConnection } from './connection-row';

/** A row an API-key write returned, and whether it inserted it. */
type Written = ConnectionRow & { created: boolean };

export type ConnectionStatus = 'active' | 'needs_reauth' | 'revoked' | 'refresh_indeterminate';

/** Metadata of a connection: everything but the secrets. */
export interface ConnectionSummary {
  id: string;
  integration: string;
  user: string | null;
  level: 'user' | 'tenant';
  kind: 'oauth2' | 'api_key';
  status: ConnectionStatus;
  version: number;
  scopes: string[];
  expiresAt: Date | null;
  metadata: Record<string, unknown>;
  providerAccountId: string | null;
  /** The e-mail the provider reported for that account at connect time (ID token or userinfo), when it did. */
  providerAccountEmail: string | null;
  lastRefreshAt: Date | null;
  nextRefreshAt: Date | null;
  lastErrorClass: string | null;
  /** Transient refresh failures in a row (0 after a success). */
  refreshFailures: number;
  /** A rotated API key's previous value is kept (sealed, never released) until then; null when there is none. */
  previousExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A connection whose previous API key was destroyed after its grace period. */
export interface ExpiredPreviousKey {
  tenant: TenantId;
  id: string;
  integration: string;
  subject: string;
}

/** A whole connection as its stores read it (the `connections` row, mapped once: connection-row.ts). */
export type ConnectionRecord = Connection;

/** What a release reads of a connection (`findForRelease`); `tokenIssuedAt` and `provider` size the refresh-ahead window. */
export type ReleasableConnection = Pick<
  ConnectionRecord,
  | 'id'
  | 'kind'
  | 'status'
  | 'version'
  | 'scopes'
  | 'expiresAt'
  | 'metadata'
  | 'tenant'
  | 'tkVersion'
  | 'dekWrapped'
  | 'accessTokenCt'
  | 'apiKeyCt'
> & {
  integration: string;
  subject: string;
  tokenIssuedAt?: Date | null;
  provider?: string | null;
  /** The integration's `provider_options` (a custom integration's refresh windows are there). */
  providerOptions?: Record<string, unknown> | null;
};

/** The user id of a tenant-level connection (user ids are never empty). */
export const TENANT_LEVEL = '';
export const TABLE = 'connections';

const COLUMNS = connectionColumns();

/** `findForRelease`'s statement; the column order is `ReleaseTuple`'s. The provider sizes the refresh-ahead window. */
const FIND_FOR_RELEASE = `SELECT c.id, c.kind, c.status, c.version, c.scopes, c.expires_at, c.metadata, c.tk_version, c.dek_wrapped, c.access_token_ct, c.api_key_ct,
  c.integration, c.subject, c.token_issued_at, i.provider, i.config->'provider_options'
  FROM connections c LEFT JOIN integrations i ON i.tenant = c.tenant AND i.name = c.integration
  WHERE c.tenant = $1 AND c.integration = $2 AND c.subject = $3`;

/** Type OIDs of `FIND_FOR_RELEASE`'s columns (checked against Postgres's description once per connection). */
const UUID = 2950;
const TEXT = 25;
const INT8 = 20;
const INT4 = 23;
const TEXT_ARRAY = 1009;
const TIMESTAMPTZ = 1184;
const JSONB = 3802;
const BYTEA = 17;
const FIND_FOR_RELEASE_STATEMENT = new PreparedRead('vault_connection_find_for_release', FIND_FOR_RELEASE, [
  UUID,
  TEXT,
  TEXT,
  INT8,
  TEXT_ARRAY,
  TIMESTAMPTZ,
  JSONB,
  INT4,
  BYTEA,
  BYTEA,
  BYTEA,
  TEXT,
  TEXT,
  TIMESTAMPTZ,
  TEXT,
  JSONB,
]);

/** One row of `FIND_FOR_RELEASE`, as an array. */
type ReleaseTuple = [
  id: string,
  kind: ConnectionRow['kind'],
  status: ConnectionStatus,
  version: string,
  scopes: string[] | null,
  expiresAt: Date | null,
  metadata: Record<string, unknown> | null,
  tkVersion: number,
  dekWrapped: Buffer,
  accessTokenCt: Buffer | null,
  apiKeyCt: Buffer | null,
  integration: string,
  subject: string,
  tokenIssuedAt: Date | null,
  provider: string | null,
  providerOptions: Record<string, unknown> | null,
];

/** A `FIND_FOR_RELEASE` row as the release reads it (indexes rather than destructuring: no iterator per release). */
function releasable(tenant: TenantId, r: ReleaseTuple): ReleasableConnection {
  return {
    id: r[0],
    kind: r[1],
    status: r[2],
    version: Number(r[3]),
    scopes: r[4] ?? [],
    expiresAt: r[5] ?? null,
    metadata: r[6] ?? {},
    tenant,
    tkVersion: r[7],
    dekWrapped: r[8],
    accessTokenCt: r[9],
    apiKeyCt: r[10],
    integration: r[11],
    subject: r[12],
    tokenIssuedAt: r[13] ?? null,
    provider: r[14] ?? null,
    providerOptions: r[15] ?? null,
  };
}

/** What a connection's sealed fields are bound to: the row, and whose account on which integration it is (invariant 3). */
export function connectionRef(tenant: TenantId, id: string, integration: string, subject: string): RecordRef {
  return { tenant, table: TABLE, id, bind: { subject, integration } };
}

@Injectable()
export class ConnectionStore {
  private readonly graceMs: number;

  constructor(
    private readonly ds: DataSource,
    private readonly sealed: SealedFields,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'keys'>,
    @Inject(CONNECTION_EVENTS) private readonly events: ConnectionEvents,
  ) {
    this.graceMs = config.keys.apiKeyGraceMs;
  }

  /** Runs `write` inside a transaction that also queues `eventsOf(result)` in the outbox. */
  /** In its own transaction, or in the caller's (`within`: a step of a larger change that commits or fails whole). */
  private async withEvents<T>(
    write: (db: Queryable) => Promise<T>,
    eventsOf: (result: T) => ConnectionEvent[],
    within?: Queryable,
  ): Promise<T> {
    const sink = this.events;
    const run = async (m: Queryable) => {
      const result = await write(m);
      for (const e of eventsOf(result)) await sink.enqueue(m, e);
      return result;
    };
    return within ? run(within) : this.ds.transaction(run);
  }

  /**
   * Stores an API key, or rotates it: the new value becomes current (agents only ever get that
   * one) and the value it replaces is kept as the previous key, sealed under the same fresh DEK,
   * until `previous_expires_at` (the configured grace period; 0 keeps nothing). A key replaced
   * again within its grace period drops the older previous value. Writes compare-and-set on the
   * version, so a concurrent rotation or disconnect is never overwritten blindly.
   */
  async putApiKey(
    tenant: TenantId,
    integration: string,
    subject: string,
    apiKey: Buffer,
  ): Promise<{ created: boolean; connection: ConnectionSummary }> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const existing = await this.find(tenant, integration, subject);
      const id: string = existing?.id ?? randomUUID();
      const ref = connectionRef(tenant, id, integration, subject);
      const previous =
        existing?.apiKeyCt && this.graceMs > 0 ? await this.openQuietly(ref, existing.dekWrapped, existing.apiKeyCt) : undefined;
      // The helper zeroes what it is given: a copy of the caller's key, made anew for each attempt.
      const plaintext: Record<string, Buffer | null> = { api_key: Buffer.from(apiKey) };
      if (previous) plaintext.previous_api_key = previous;
      const rows = await this.sealed.write<Written[]>(ref, plaintext, (sealed) =>
        existing
          ? this.ds
              .query(
                `UPDATE connections SET tk_version = $1, dek_wrapped = $2, api_key_ct = $3,
                   previous_api_key_ct = $4, previous_expires_at = CASE WHEN $4::bytea IS NULL THEN NULL ELSE now() + make_interval(secs => $5) END,
                   status = 'active', version = version + 1, updated_at = now()
                 WHERE id = $6 AND tenant = $7 AND version = $8
                 RETURNING ${COLUMNS}, false AS created`,
                [
                  sealed.tkVersion,
                  sealed.dekWrapped,
                  sealed.fields.api_key,
                  sealed.fields.previous_api_key ?? null,
                  this.graceMs / 1000,
                  id,
                  tenant,
                  existing.version,
                ],
              )
              .then((r: [Written[], number]) => r[0])
          : this.withEvents(
              (db) =>
                db.query(
                  `INSERT INTO connections (id, tenant, integration, subject, kind, status, tk_version, dek_wrapped, api_key_ct)
                   VALUES ($1, $2, $3, $4, 'api_key', 'active', $5, $6, $7)
                   ON CONFLICT (tenant, integration, subject) DO NOTHING
                   RETURNING ${COLUMNS}, true AS created`,
                  [id, tenant, integration, subject, sealed.tkVersion, sealed.dekWrapped, sealed.fields.api_key],
                ) as Promise<Written[]>,
              (inserted) => (inserted.length ? [deletedOrCreated('connection.created', tenant, id, integration, subject)] : []),
            ),
      );
      if (rows.length) return { created: Boolean(rows[0].created), connection: summaryOf(toConnection(rows[0])) };
      // A concurrent writer changed or created the row between our read and write: go again.
    }
    throw new DomainError('conflict', 'the connection was changed concurrently; retry');
  }

  /** The previous value of a rotated API key is best kept, never worth failing a rotation over (the failure is still reported). */
  private async openQuietly(ref: RecordRef, dekWrapped: Buffer, ct: Buffer): Promise<Buffer | undefined> {
    try {
      return await this.sealed.open(ref, { dekWrapped, ct }, 'api_key', {
        audit: this.audit,
        action: 'key.rotate',
        subject: ref.bind.subject || undefined,
        integration: ref.bind.integration,
      });
    } catch (err) {
      if (err instanceof KeyUnwrapError) return undefined;
      throw err;
    }
  }

  /**
   * Housekeeping: destroys previous API keys whose grace period is over (ciphertext removed;
   * the record's DEK still protects the current value). Skips rows a writer holds.
   */
  async destroyExpiredPreviousKeys(limit: number): Promise<ExpiredPreviousKey[]> {
    const [rows] = await this.ds.query(
      `UPDATE connections SET previous_api_key_ct = NULL, previous_expires_at = NULL, updated_at = now()
        WHERE id IN (SELECT id FROM connections WHERE previous_expires_at <= now() ORDER BY previous_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING tenant, id, integration, subject`,
      [limit],
    );
    return rows;
  }

  /** Crypto-shredding of a user: every connection of theirs, and with it the only copy of each DEK. */
  /** `within`: the caller's open transaction (a user shred deletes and schedules its key rotation as one change). */
  async deleteAllForUser(tenant: TenantId, subject: string, within?: Queryable): Promise<Array<{ id: string; integration: string }>> {
    return this.withEvents(
      async (db) =>
        (
          (await db.query(`DELETE FROM connections WHERE tenant = $1 AND subject = $2 RETURNING id, integration`, [tenant, subject])) as [
            Array<{ id: string; integration: string }>,
          ]
        )[0],
      (rows) => rows.map((r) => deletedOrCreated('connection.deleted', tenant, r.id, r.integration, subject)),
      within,
    );
  }

  async find(tenant: TenantId, integration: string, subject: string): Promise<Connection | undefined> {
    const rows: ConnectionRow[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM connections WHERE tenant = $1 AND integration = $2 AND subject = $3`,
      [tenant, integration, subject],
    );
    return rows[0] ? toConnection(rows[0]) : undefined;
  }

  /**
   * `find` for the release path (once per release): the same row, only the columns a release
   * reads, through a named prepared statement straight on the pool (parsed once per connection,
   * no per-query row description or parsers: `PreparedRead`) rather than TypeORM's per-query runner.
   */
  findForRelease(tenant: TenantId, integration: string, subject: string): Promise<ReleasableConnection | undefined> {
    return FIND_FOR_RELEASE_STATEMENT.run(pgPool(this.ds), [tenant, integration, subject]).then((rows) =>
      rows.length ? releasable(tenant, rows[0] as ReleaseTuple) : undefined,
    );
  }

  /**
   * Opens one sealed field of a connection, bound to the owner columns the row has now. Fails
   * (`KeyUnwrapError`, alarmed and audited under `alarm`) when the field is missing, tampered with,
   * moved, or the row was relabelled.
   */
  async open(c: ReleasableConnection, field: 'access_token' | 'api_key', alarm: Omit<DecryptAlarm, 'audit'>): Promise<Buffer> {
    return this.openNow(c, field, alarm);
  }

  /** `open` without a promise when the tenant key is cached (the release path): the plaintext, or `open`'s promise. */
  openNow(c: ReleasableConnection, field: 'access_token' | 'api_key', alarm: Omit<DecryptAlarm, 'audit'>): Buffer | Promise<Buffer> {
    const ct = field === 'api_key' ? c.apiKeyCt : c.accessTokenCt;
    return this.sealed.openNow(connectionRef(c.tenant, c.id, c.integration, c.subject), { dekWrapped: c.dekWrapped, ct }, field, {
      audit: this.audit,
      ...alarm,
    });
  }

  async list(
    tenant: TenantId,
    filter: { user?: string; integration?: string; status?: ConnectionStatus; limit: number },
  ): Promise<ConnectionSummary[]> {
    const rows: ConnectionRow[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM connections WHERE tenant = $1
         AND ($2::text IS NULL OR subject = $2) AND ($3::text IS NULL OR integration = $3) AND ($4::text IS NULL OR status = $4)
       ORDER BY integration, subject LIMIT $5`,
      [tenant, filter.user ?? null, filter.integration ?? null, filter.status ?? null, filter.limit],
    );
    return rows.map((r) => summaryOf(toConnection(r)));
  }

  /** A tenant's connections counted by their integration's provider and status (for the operator dashboard). */
  async countByIntegrationAndStatus(
    tenant: TenantId,
  ): Promise<Array<{ integration: string; provider: string; status: ConnectionStatus; count: number }>> {
    return this.ds.query(
      `SELECT c.integration, i.provider, c.status, count(*)::int AS count
         FROM connections c JOIN integrations i ON i.tenant = c.tenant AND i.name = c.integration
        WHERE c.tenant = $1
        GROUP BY c.integration, i.provider, c.status ORDER BY c.integration`,
      [tenant],
    );
  }

  /** Destroys the connection row, and with it the only copy of its wrapped DEK. */
  async delete(tenant: TenantId, integration: string, subject: string): Promise<boolean> {
    const rows = await this.withEvents(
      async (db) =>
        (
          (await db.query(`DELETE FROM connections WHERE tenant = $1 AND integration = $2 AND subject = $3 RETURNING id`, [
            tenant,
            integration,
            subject,
          ])) as [Array<{ id: string }>]
        )[0],
      (deleted) => deleted.map((r) => deletedOrCreated('connection.deleted', tenant, r.id, integration, subject)),
    );
    return rows.length > 0;
  }
}

function deletedOrCreated(
  type: 'connection.created' | 'connection.deleted',
  tenant: TenantId,
  id: string,
  integration: string,
  subject: string,
): ConnectionEvent {
  return {
    tenant,
    type,
    data: {
      connection_id: id,
      integration,
      user: subject === TENANT_LEVEL ? null : subject,
      status: type === 'connection.created' ? 'active' : 'deleted',
    },
  };
}
