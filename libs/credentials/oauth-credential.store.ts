import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Keyring } from '../crypto';
import { DomainError, Secret, TenantId } from '../kernel';
import { TABLE } from './connection.store';

/** An OAuth credential as the connect flow or a refresh produced it. */
export interface OAuthCredential {
  accessToken: Secret;
  refreshToken: Secret | null;
  expiresAt: Date | null;
  refreshTokenExpiresAt: Date | null;
  scopes: string[];
  metadata: Record<string, unknown>;
  providerAccountId?: string | null;
}

/** What a refresh needs of a connection row. */
export interface RefreshableConnection {
  id: string;
  tenant: TenantId;
  integration: string;
  subject: string;
  status: string;
  version: number;
  expiresAt: Date | null;
  scopes: string[];
  dekWrapped: Buffer;
  accessTokenCt: Buffer | null;
  refreshTokenCt: Buffer | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
}

/** Scheduled-refresh hint for the worker (issue 4 owns the schedule): five minutes before expiry. */
const nextRefresh = (refresh: string, expires: string) => `CASE WHEN ${refresh}::bytea IS NOT NULL AND ${expires}::timestamptz IS NOT NULL THEN ${expires}::timestamptz - interval '300 seconds' END`;
const RETIRED_KEY_VERSION = 'VK001';

/**
 * Writes of OAuth credentials: connect/reconnect (one upsert, a fresh DEK, version + 1) and the
 * refresh protocol (lease, compare-and-set on version and lease owner). Both tokens of a record
 * are sealed together under one DEK, so a commit replaces them atomically.
 */
@Injectable()
export class OAuthCredentialStore {
  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
  ) {}

  /** Connects or reconnects: the previous credential (and its DEK) is replaced in one statement. */
  async put(tenant: TenantId, integration: string, subject: string, c: OAuthCredential): Promise<{ id: string; version: number; created: boolean }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.ds.query(`SELECT id FROM connections WHERE tenant = $1 AND integration = $2 AND subject = $3`, [tenant, integration, subject]);
      const id: string = existing[0]?.id ?? randomUUID();
      const sealed = await this.seal(tenant, id, c);
      try {
        const rows = await this.ds.query(
          `INSERT INTO connections (id, tenant, integration, subject, kind, status, tk_version, dek_wrapped, access_token_ct, refresh_token_ct,
             expires_at, refresh_token_expires_at, scopes, metadata, provider_account_id, next_refresh_at)
           VALUES ($1, $2, $3, $4, 'oauth2', 'active', $5, $6, $7, $8, $9, $10, $11, $12, $13, ${nextRefresh('$8', '$9')})
           ON CONFLICT (tenant, integration, subject) DO UPDATE SET tk_version = EXCLUDED.tk_version, dek_wrapped = EXCLUDED.dek_wrapped,
             access_token_ct = EXCLUDED.access_token_ct, refresh_token_ct = EXCLUDED.refresh_token_ct, api_key_ct = NULL,
             expires_at = EXCLUDED.expires_at, refresh_token_expires_at = EXCLUDED.refresh_token_expires_at, scopes = EXCLUDED.scopes,
             metadata = EXCLUDED.metadata, provider_account_id = EXCLUDED.provider_account_id, next_refresh_at = EXCLUDED.next_refresh_at,
             status = 'active', version = connections.version + 1, lease_owner = NULL, lease_expires_at = NULL,
             last_error_class = NULL, last_refresh_at = NULL, updated_at = now()
           WHERE connections.id = EXCLUDED.id
           RETURNING id, version, (xmax = 0) AS created`,
          [id, tenant, integration, subject, sealed.tkVersion, sealed.dekWrapped, sealed.access, sealed.refresh, c.expiresAt, c.refreshTokenExpiresAt, c.scopes, JSON.stringify(c.metadata), c.providerAccountId ?? null],
        );
        if (rows.length) return { id: rows[0].id, version: Number(rows[0].version), created: Boolean(rows[0].created) };
      } catch (err) {
        if (!isRetiredKeyVersion(err)) throw err;
      }
    }
    throw new DomainError('conflict', 'the connection was changed concurrently; retry');
  }

  async load(tenant: TenantId, id: string): Promise<RefreshableConnection | undefined> {
    const rows = await this.ds.query(
      `SELECT id, integration, subject, status, version, expires_at, scopes, dek_wrapped, access_token_ct, refresh_token_ct, lease_owner, lease_expires_at
         FROM connections WHERE tenant = $1 AND id = $2 AND kind = 'oauth2'`,
      [tenant, id],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      id: r.id, tenant, integration: r.integration, subject: r.subject, status: r.status, version: Number(r.version), expiresAt: r.expires_at,
      scopes: r.scopes ?? [], dekWrapped: r.dek_wrapped, accessTokenCt: r.access_token_ct, refreshTokenCt: r.refresh_token_ct,
      leaseOwner: r.lease_owner, leaseExpiresAt: r.lease_expires_at,
    };
  }

  /** Both tokens, opened. Key errors propagate (`KeyUnwrapError`: one generic failure). */
  async openTokens(c: RefreshableConnection): Promise<{ access: Secret | null; refresh: Secret | null }> {
    const open = async (field: 'access_token' | 'refresh_token', ct: Buffer | null) => {
      if (!ct) return null;
      const b = await this.keyring.open({ tenant: c.tenant, table: TABLE, id: c.id }, c.dekWrapped, field, ct);
      try {
        return Secret.of(b.toString('utf8'));
      } finally {
        b.fill(0);
      }
    };
    return { access: await open('access_token', c.accessTokenCt), refresh: await open('refresh_token', c.refreshTokenCt) };
  }

  /** Takes the refresh lease if the row is still at `c.version` and nobody holds an unexpired lease. */
  async claimLease(c: RefreshableConnection, owner: string, leaseMs: number): Promise<boolean> {
    const [, n] = await this.ds.query(
      `UPDATE connections SET lease_owner = $4, lease_expires_at = now() + ($5::int * interval '1 millisecond')
        WHERE tenant = $1 AND id = $2 AND version = $3 AND status = 'active' AND (lease_expires_at IS NULL OR lease_expires_at < now())`,
      [c.tenant, c.id, c.version, owner, leaseMs],
    );
    return n > 0;
  }

  /**
   * Commits a refresh: compare-and-set on version and lease owner. The (possibly rotated) refresh
   * token goes in with the access token under a fresh DEK; metadata the provider sent is written back.
   */
  async commitRefresh(c: RefreshableConnection, owner: string, next: OAuthCredential): Promise<boolean> {
    const sealed = await this.seal(c.tenant, c.id, next);
    const [, n] = await this.ds.query(
      `UPDATE connections SET tk_version = $5, dek_wrapped = $6, access_token_ct = $7, refresh_token_ct = $8, expires_at = $9,
         refresh_token_expires_at = COALESCE($10, refresh_token_expires_at), scopes = $11, metadata = metadata || $12::jsonb,
         next_refresh_at = ${nextRefresh('$8', '$9')}, version = version + 1, lease_owner = NULL, lease_expires_at = NULL,
         last_refresh_at = now(), last_error_class = NULL, updated_at = now()
        WHERE tenant = $1 AND id = $2 AND version = $3 AND lease_owner = $4`,
      [c.tenant, c.id, c.version, owner, sealed.tkVersion, sealed.dekWrapped, sealed.access, sealed.refresh, next.expiresAt, next.refreshTokenExpiresAt, next.scopes, JSON.stringify(next.metadata)],
    );
    return n > 0;
  }

  /** Gives the lease back after a failed refresh, recording the error class; the token is kept. */
  async releaseLease(c: RefreshableConnection, owner: string, errorClass: string | null): Promise<void> {
    await this.ds.query(
      `UPDATE connections SET lease_owner = NULL, lease_expires_at = NULL, last_error_class = $4, updated_at = now()
        WHERE tenant = $1 AND id = $2 AND lease_owner = $3`,
      [c.tenant, c.id, owner, errorClass],
    );
  }

  /** The provider refused the grant for good: the user must reconnect. Never deletes anything. */
  async markStatus(c: RefreshableConnection, status: 'needs_reauth' | 'refresh_indeterminate', errorClass: string): Promise<boolean> {
    const [, n] = await this.ds.query(
      `UPDATE connections SET status = $4, last_error_class = $5, lease_owner = NULL, lease_expires_at = NULL, version = version + 1, updated_at = now()
        WHERE tenant = $1 AND id = $2 AND version = $3`,
      [c.tenant, c.id, c.version, status, errorClass],
    );
    return n > 0;
  }

  private async seal(tenant: TenantId, id: string, c: OAuthCredential) {
    const access = Buffer.from(c.accessToken.reveal(), 'utf8');
    const refresh = c.refreshToken ? Buffer.from(c.refreshToken.reveal(), 'utf8') : null;
    try {
      const s = await this.keyring.seal({ tenant, table: TABLE, id }, { access_token: access, refresh_token: refresh });
      return { tkVersion: s.tkVersion, dekWrapped: s.dekWrapped, access: s.fields.access_token, refresh: s.fields.refresh_token ?? null };
    } finally {
      access.fill(0);
      refresh?.fill(0);
    }
  }
}

function isRetiredKeyVersion(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  return e?.code === RETIRED_KEY_VERSION || e?.driverError?.code === RETIRED_KEY_VERSION;
}
