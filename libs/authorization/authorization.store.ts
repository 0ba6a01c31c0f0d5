import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { ensureTenant } from '../db';
import { TenantId } from '../kernel';

export const hashOf = (value: string): Buffer => createHash('sha256').update(value).digest();
const CODE_SECONDS = 60;
const REQUEST_SECONDS = 600;

/** What a code or refresh token stands for: the user (and their roles at sign-in), the client, the resource, the scopes. */
export interface Grant {
  family: string;
  tenant: TenantId;
  client_id: string;
  subject: string;
  roles: string[];
  resource: string;
  scopes: string[];
}

export interface PendingRequest {
  tenant: TenantId;
  subject: string;
  roles: string[];
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  state: string | undefined;
  resource: string;
  scopes: string[];
}

export interface Consent {
  client_id: string;
  client_name: string;
  resource: string;
  scopes: string[];
  created_at: Date;
}

/**
 * The authorization server's rows: requests waiting for consent (bound to the browser session),
 * single-use codes (60 s), rotating refresh tokens grouped in families, and remembered consents.
 * Codes and refresh tokens are kept as SHA-256 hashes only.
 */
@Injectable()
export class AuthorizationStore {
  constructor(
    private readonly ds: DataSource,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  async saveRequest(sessionId: string, r: PendingRequest): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.ds.query(`DELETE FROM oauth_authorization_requests WHERE expires_at < now()`);
    await this.ds.query(
      `INSERT INTO oauth_authorization_requests (id_hash, tenant, session_id, subject, roles, client_id, redirect_uri, code_challenge, state, resource, scopes, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + make_interval(secs => $12))`,
      [
        hashOf(id),
        r.tenant,
        sessionId,
        r.subject,
        r.roles,
        r.client_id,
        r.redirect_uri,
        r.code_challenge,
        r.state,
        r.resource,
        r.scopes,
        REQUEST_SECONDS,
      ],
    );
    return id;
  }

  /** The request, once: only for the session that made it. */
  async takeRequest(tenant: TenantId, sessionId: string, id: string): Promise<PendingRequest | undefined> {
    const [rows] = (await this.ds.query(
      `DELETE FROM oauth_authorization_requests WHERE id_hash = $1 AND tenant = $2 AND session_id = $3 AND expires_at > now()
       RETURNING tenant, subject, roles, client_id, redirect_uri, code_challenge, state, resource, scopes`,
      [hashOf(id), tenant, sessionId],
    )) as [PendingRequest[], number];
    return rows[0];
  }

  async newCode(g: Omit<Grant, 'family'> & { redirect_uri: string; code_challenge: string }): Promise<string> {
    const code = randomBytes(32).toString('base64url');
    await this.ds.query(`DELETE FROM oauth_codes WHERE expires_at < now() - interval '1 day'`);
    await this.ds.query(
      `INSERT INTO oauth_codes (code_hash, family, tenant, client_id, redirect_uri, code_challenge, subject, roles, resource, scopes, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(secs => $11))`,
      [
        hashOf(code),
        randomUUID(),
        g.tenant,
        g.client_id,
        g.redirect_uri,
        g.code_challenge,
        g.subject,
        g.roles,
        g.resource,
        g.scopes,
        CODE_SECONDS,
      ],
    );
    return code;
  }

  /** Marks the code used and returns it, with whether it had been used before (a replay) and whether it expired. */
  async redeemCode(
    code: string,
  ): Promise<(Grant & { redirect_uri: string; code_challenge: string; replayed: boolean; expired: boolean }) | undefined> {
    const [rows] = (await this.ds.query(
      `WITH old AS (SELECT code_hash, used_at FROM oauth_codes WHERE code_hash = $1 FOR UPDATE)
       UPDATE oauth_codes c SET used_at = COALESCE(c.used_at, now()) FROM old WHERE c.code_hash = old.code_hash
       RETURNING c.family, c.tenant, c.client_id, c.redirect_uri, c.code_challenge, c.subject, c.roles, c.resource, c.scopes,
                 old.used_at IS NOT NULL AS replayed, c.expires_at < now() AS expired`,
      [hashOf(code)],
    )) as [Array<Grant & { redirect_uri: string; code_challenge: string; replayed: boolean; expired: boolean }>, number];
    return rows[0];
  }

  async newRefreshToken(g: Grant): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.ds.query(
      `INSERT INTO oauth_refresh_tokens (token_hash, family, tenant, client_id, subject, roles, resource, scopes, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(days => $9))`,
      [
        hashOf(token),
        g.family,
        g.tenant,
        g.client_id,
        g.subject,
        g.roles,
        g.resource,
        g.scopes,
        this.config.authorizationServer.refreshTokenDays,
      ],
    );
    return token;
  }

  /** Marks the refresh token used (it rotates) and returns it, with whether it was used before, revoked or expired. */
  async useRefreshToken(token: string): Promise<(Grant & { reused: boolean; revoked: boolean; expired: boolean }) | undefined> {
    const [rows] = (await this.ds.query(
      `WITH old AS (SELECT token_hash, used_at FROM oauth_refresh_tokens WHERE token_hash = $1 FOR UPDATE)
       UPDATE oauth_refresh_tokens t SET used_at = COALESCE(t.used_at, now()) FROM old WHERE t.token_hash = old.token_hash
       RETURNING t.family, t.tenant, t.client_id, t.subject, t.roles, t.resource, t.scopes,
                 old.used_at IS NOT NULL AS reused, t.revoked_at IS NOT NULL AS revoked, t.expires_at < now() AS expired`,
      [hashOf(token)],
    )) as [Array<Grant & { reused: boolean; revoked: boolean; expired: boolean }>, number];
    return rows[0];
  }

  /** Every refresh token of the family stops working (reuse detected, or the code replayed). */
  async revokeFamily(family: string): Promise<number> {
    const [, n] = (await this.ds.query(`UPDATE oauth_refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL`, [
      family,
    ])) as [unknown, number];
    return n;
  }

  async consent(tenant: TenantId, subject: string, clientId: string, resource: string): Promise<Consent | undefined> {
    const rows: Consent[] = await this.ds.query(
      `SELECT client_id, client_name, resource, scopes, created_at FROM oauth_consents WHERE tenant = $1 AND subject = $2 AND client_id = $3 AND resource = $4`,
      [tenant, subject, clientId, resource],
    );
    return rows[0];
  }

  async saveConsent(tenant: TenantId, subject: string, c: Omit<Consent, 'created_at'>): Promise<void> {
    await ensureTenant(this.ds, tenant);
    await this.ds.query(
      `INSERT INTO oauth_consents (tenant, subject, client_id, resource, client_name, scopes) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (tenant, subject, client_id, resource) DO UPDATE SET client_name = EXCLUDED.client_name, scopes = EXCLUDED.scopes, created_at = now()`,
      [tenant, subject, c.client_id, c.resource, c.client_name, c.scopes],
    );
  }

  async consents(tenant: TenantId, subject: string): Promise<Consent[]> {
    return this.ds.query(
      `SELECT client_id, client_name, resource, scopes, created_at FROM oauth_consents WHERE tenant = $1 AND subject = $2 ORDER BY created_at DESC LIMIT 200`,
      [tenant, subject],
    );
  }

  /** Forgets the consent and revokes every refresh token issued under it. */
  async revokeConsent(tenant: TenantId, subject: string, clientId: string, resource: string): Promise<boolean> {
    return this.ds.transaction(async (m) => {
      const [, n] = (await m.query(`DELETE FROM oauth_consents WHERE tenant = $1 AND subject = $2 AND client_id = $3 AND resource = $4`, [
        tenant,
        subject,
        clientId,
        resource,
      ])) as [unknown, number];
      await m.query(
        `UPDATE oauth_refresh_tokens SET revoked_at = now() WHERE tenant = $1 AND subject = $2 AND client_id = $3 AND resource = $4 AND revoked_at IS NULL`,
        [tenant, subject, clientId, resource],
      );
      return n > 0;
    });
  }
}
