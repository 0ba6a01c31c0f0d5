import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { TenantId } from '../kernel';

/** A signed-in person, as the account pages see them. `id` is the row key (hex): it signs their CSRF tokens with `secret`. */
export interface UserSession {
  id: string;
  tenant: TenantId;
  subject: string;
  email: string | null;
  roles: string[];
}

/** A live session as an admin sees it: no cookie value, no hash of one. */
export interface UserSessionInfo {
  email: string | null;
  roles: string[];
  createdAt: Date;
  lastSeenAt: Date;
  /** When it ends unless used again (idle timeout), never later than `expiresAt`. */
  idleExpiresAt: Date;
  expiresAt: Date;
}

export function hashOf(cookieValue: string): Buffer {
  return createHash('sha256').update(cookieValue).digest();
}

/**
 * Server-side sessions (issue 17 §1): the browser holds a random 256-bit value, the row its SHA-256.
 * A session ends at its absolute expiry, after `sessionIdleSeconds` without a request, or when
 * revoked (sign-out); each request that finds it live moves its idle clock.
 */
@Injectable()
export class UserSessionStore {
  constructor(
    private readonly ds: DataSource,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'users'>,
  ) {}

  async create(
    tenant: TenantId,
    subject: string,
    email: string | null,
    roles: string[],
  ): Promise<{ cookie: string; maxAgeSeconds: number }> {
    const cookie = randomBytes(32).toString('base64url');
    const max = this.config.users.sessionMaxSeconds;
    // Ended sessions are of no further use (sign-ins are audited): each sign-in sweeps a bounded batch.
    await this.ds.query(
      `DELETE FROM user_sessions WHERE id_hash IN (SELECT id_hash FROM user_sessions WHERE expires_at < now() OR revoked_at IS NOT NULL OR last_seen_at < now() - make_interval(secs => $1) LIMIT 100)`,
      [this.config.users.sessionIdleSeconds],
    );
    await this.ds.query(
      `INSERT INTO user_sessions (id_hash, tenant, subject, email, roles, expires_at) VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
      [hashOf(cookie), tenant, subject, email, roles, max],
    );
    return { cookie, maxAgeSeconds: max };
  }

  /** The live session this cookie value names in `tenant` (its idle clock moved), or undefined. */
  async authenticate(tenant: TenantId, cookie: string | undefined): Promise<UserSession | undefined> {
    if (!cookie || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) return undefined;
    const rows = await this.ds.query(
      `UPDATE user_sessions SET last_seen_at = now()
        WHERE id_hash = $1 AND tenant = $2 AND revoked_at IS NULL AND expires_at > now() AND last_seen_at > now() - make_interval(secs => $3)
        RETURNING encode(id_hash, 'hex') AS id, tenant, subject, email, roles`,
      [hashOf(cookie), tenant, this.config.users.sessionIdleSeconds],
    );
    const r = (rows as [Array<Record<string, any>>, number])[0]?.[0];
    return r ? { id: r.id, tenant: r.tenant, subject: r.subject, email: r.email, roles: r.roles } : undefined;
  }

  /** The live sessions of one subject in `tenant`, newest first (ended ones are of no use to anyone). */
  async liveOf(tenant: TenantId, subject: string): Promise<UserSessionInfo[]> {
    const rows: Array<Record<string, any>> = await this.ds.query(
      `SELECT email, roles, created_at, last_seen_at, expires_at,
              LEAST(expires_at, last_seen_at + make_interval(secs => $3)) AS idle_expires_at
         FROM user_sessions
        WHERE tenant = $1 AND subject = $2 AND revoked_at IS NULL AND expires_at > now()
          AND last_seen_at > now() - make_interval(secs => $3)
        ORDER BY created_at DESC LIMIT 100`,
      [tenant, subject, this.config.users.sessionIdleSeconds],
    );
    return rows.map((r) => ({
      email: r.email,
      roles: r.roles,
      createdAt: r.created_at,
      lastSeenAt: r.last_seen_at,
      idleExpiresAt: r.idle_expires_at,
      expiresAt: r.expires_at,
    }));
  }

  /** Ends every session of one subject in `tenant` at once: `authenticate` refuses a revoked row on the next request. */
  async revokeAllOf(tenant: TenantId, subject: string): Promise<number> {
    const [, n] = (await this.ds.query(
      `UPDATE user_sessions SET revoked_at = now() WHERE tenant = $1 AND subject = $2 AND revoked_at IS NULL AND expires_at > now()`,
      [tenant, subject],
    )) as [unknown, number];
    return n;
  }

  async revoke(id: string): Promise<void> {
    await this.ds.query(`UPDATE user_sessions SET revoked_at = now() WHERE id_hash = decode($1, 'hex') AND revoked_at IS NULL`, [id]);
  }

  /** The e-mail address of the user's latest sign-in, if it had one (where approval mail goes without a token claim). */
  async lastEmail(tenant: TenantId, subject: string): Promise<string | undefined> {
    const rows: Array<{ email: string | null }> = await this.ds.query(
      `SELECT email FROM user_sessions WHERE tenant = $1 AND subject = $2 AND email IS NOT NULL ORDER BY created_at DESC LIMIT 1`,
      [tenant, subject],
    );
    return rows[0]?.email ?? undefined;
  }
}
