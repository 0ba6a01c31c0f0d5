import { Injectable } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ensureTenant } from '../db';
import { Secret, TenantId } from '../kernel';

export type AgentAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface Agent {
  client_id: string;
  name: string;
  auth_method: AgentAuthMethod;
  jwks: { keys: unknown[] } | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * Registered agents (clients of the token service). A generated client secret is
 * shown once; only its SHA-256 is stored (it is 256 random bits, so no slow KDF is needed).
 */
@Injectable()
export class AgentStore {
  constructor(private readonly ds: DataSource) {}

  async list(tenant: TenantId): Promise<Agent[]> {
    return this.ds.query(`SELECT client_id, name, auth_method, jwks, created_at, updated_at FROM agents WHERE tenant = $1 ORDER BY client_id`, [tenant]);
  }

  async exists(tenant: TenantId, clientId: string): Promise<boolean> {
    const rows = await this.ds.query(`SELECT 1 FROM agents WHERE tenant = $1 AND client_id = $2`, [tenant, clientId]);
    return rows.length > 0;
  }

  async put(
    tenant: TenantId,
    a: { client_id: string; name: string; auth_method: AgentAuthMethod; jwks?: { keys: unknown[] } | null },
  ): Promise<{ created: boolean; clientSecret?: Secret }> {
    const secret = a.auth_method === 'client_secret_basic' || a.auth_method === 'client_secret_post' ? Secret.of(randomBytes(32).toString('base64url')) : undefined;
    const hash = secret ? hashSecret(secret) : null;
    await ensureTenant(this.ds, tenant);
    const rows = await this.ds.query(
      `INSERT INTO agents (tenant, client_id, name, auth_method, secret_hash, jwks) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (tenant, client_id) DO UPDATE SET name = EXCLUDED.name, auth_method = EXCLUDED.auth_method,
         secret_hash = EXCLUDED.secret_hash, jwks = EXCLUDED.jwks, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [tenant, a.client_id, a.name, a.auth_method, hash, a.jwks ? JSON.stringify(a.jwks) : null],
    );
    return { created: Boolean(rows[0]?.created), clientSecret: secret };
  }

  async delete(tenant: TenantId, clientId: string): Promise<boolean> {
    const [, count] = await this.ds.query(`DELETE FROM agents WHERE tenant = $1 AND client_id = $2`, [tenant, clientId]);
    return count > 0;
  }

  /** Constant-time check of a presented client secret; unknown agents cost the same. */
  async verifySecret(tenant: TenantId, clientId: string, presented: Secret): Promise<boolean> {
    const rows = await this.ds.query(`SELECT secret_hash FROM agents WHERE tenant = $1 AND client_id = $2`, [tenant, clientId]);
    const stored = Buffer.from((rows[0]?.secret_hash as string | undefined) ?? '0'.repeat(64), 'hex');
    const given = Buffer.from(hashSecret(presented), 'hex');
    return timingSafeEqual(stored, given) && Boolean(rows[0]?.secret_hash);
  }
}

function hashSecret(s: Secret): string {
  return createHash('sha256').update(s.reveal(), 'utf8').digest('hex');
}
