import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Keyring } from '../crypto';
import { DomainError, TenantId } from '../kernel';

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
  lastRefreshAt: Date | null;
  nextRefreshAt: Date | null;
  lastErrorClass: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What the release path reads: metadata plus the sealed fields it may open. */
export interface ConnectionRecord extends ConnectionSummary {
  tenant: TenantId;
  dekWrapped: Buffer;
  tkVersion: number;
  accessTokenCt: Buffer | null;
  apiKeyCt: Buffer | null;
}

/** The user id of a tenant-level connection (user ids are never empty). */
export const TENANT_LEVEL = '';
export const TABLE = 'connections';

const SUMMARY = `id, integration, subject, kind, status, version, scopes, expires_at, metadata, provider_account_id,
  last_refresh_at, next_refresh_at, last_error_class, created_at, updated_at`;

@Injectable()
export class ConnectionStore {
  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
  ) {}

  /** Stores (or replaces) an API key; a replacement gets a fresh DEK and a higher version. */
  async putApiKey(tenant: TenantId, integration: string, subject: string, apiKey: Buffer): Promise<{ created: boolean; connection: ConnectionSummary }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.ds.query(`SELECT id FROM connections WHERE tenant = $1 AND integration = $2 AND subject = $3`, [tenant, integration, subject]);
      const id: string = existing[0]?.id ?? randomUUID();
      const sealed = await this.keyring.seal({ tenant, table: TABLE, id }, { api_key: apiKey });
      const rows = await this.ds.query(
        `INSERT INTO connections (id, tenant, integration, subject, kind, status, tk_version, dek_wrapped, api_key_ct)
         VALUES ($1, $2, $3, $4, 'api_key', 'active', $5, $6, $7)
         ON CONFLICT (tenant, integration, subject) DO UPDATE SET tk_version = EXCLUDED.tk_version,
           dek_wrapped = EXCLUDED.dek_wrapped, api_key_ct = EXCLUDED.api_key_ct, status = 'active',
           version = connections.version + 1, updated_at = now()
         WHERE connections.id = EXCLUDED.id
         RETURNING ${SUMMARY}, (xmax = 0) AS created`,
        [id, tenant, integration, subject, sealed.tkVersion, sealed.dekWrapped, sealed.fields.api_key],
      );
      if (rows.length) return { created: Boolean(rows[0].created), connection: toSummary(rows[0]) };
      // A concurrent writer created the row with another id between our read and write: go again.
    }
    throw new DomainError('conflict', 'the connection was changed concurrently; retry');
  }

  async find(tenant: TenantId, integration: string, subject: string): Promise<ConnectionRecord | undefined> {
    const rows = await this.ds.query(
      `SELECT ${SUMMARY}, tenant, tk_version, dek_wrapped, access_token_ct, api_key_ct
         FROM connections WHERE tenant = $1 AND integration = $2 AND subject = $3`,
      [tenant, integration, subject],
    );
    if (!rows[0]) return undefined;
    const r = rows[0];
    return { ...toSummary(r), tenant, tkVersion: r.tk_version, dekWrapped: r.dek_wrapped, accessTokenCt: r.access_token_ct, apiKeyCt: r.api_key_ct };
  }

  /** Opens one sealed field of a connection. */
  async open(c: ConnectionRecord, field: 'access_token' | 'api_key'): Promise<Buffer> {
    const ct = field === 'api_key' ? c.apiKeyCt : c.accessTokenCt;
    if (!ct) throw new DomainError('internal_error', 'connection has no such credential');
    return this.keyring.open({ tenant: c.tenant, table: TABLE, id: c.id }, c.dekWrapped, field, ct);
  }

  async list(tenant: TenantId, filter: { user?: string; integration?: string; status?: ConnectionStatus; limit: number }): Promise<ConnectionSummary[]> {
    const rows = await this.ds.query(
      `SELECT ${SUMMARY} FROM connections WHERE tenant = $1
         AND ($2::text IS NULL OR subject = $2) AND ($3::text IS NULL OR integration = $3) AND ($4::text IS NULL OR status = $4)
       ORDER BY integration, subject LIMIT $5`,
      [tenant, filter.user ?? null, filter.integration ?? null, filter.status ?? null, filter.limit],
    );
    return rows.map(toSummary);
  }

  /** Destroys the connection row, and with it the only copy of its wrapped DEK. */
  async delete(tenant: TenantId, integration: string, subject: string): Promise<boolean> {
    const [, count] = await this.ds.query(`DELETE FROM connections WHERE tenant = $1 AND integration = $2 AND subject = $3`, [tenant, integration, subject]);
    return count > 0;
  }
}

function toSummary(r: Record<string, any>): ConnectionSummary {
  return {
    id: r.id,
    integration: r.integration,
    user: r.subject === TENANT_LEVEL ? null : r.subject,
    level: r.subject === TENANT_LEVEL ? 'tenant' : 'user',
    kind: r.kind,
    status: r.status,
    version: Number(r.version),
    scopes: r.scopes ?? [],
    expiresAt: r.expires_at ?? null,
    metadata: r.metadata ?? {},
    providerAccountId: r.provider_account_id ?? null,
    lastRefreshAt: r.last_refresh_at ?? null,
    nextRefreshAt: r.next_refresh_at ?? null,
    lastErrorClass: r.last_error_class ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
