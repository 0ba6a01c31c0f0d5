import { Injectable } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ensureTenant } from '../db';
import { Secret, TenantId } from '../kernel';
import { PolicySnapshots } from './policy-snapshots';

export type AgentAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/**
 * A federated identity credential (Entra's model): an assertion from `issuer` about `subject`
 * whose `aud` holds one of `audiences` (none given: the token endpoint) and whose claims equal
 * every entry of `claims` authenticates the agent, with no secret stored.
 */
export interface FederatedCredential {
  issuer: string;
  subject: string;
  audiences: string[];
  claims: Record<string, string | number | boolean>;
}

export interface Agent {
  client_id: string;
  name: string;
  auth_method: AgentAuthMethod;
  jwks: { keys: unknown[] } | null;
  federated_credentials: FederatedCredential[];
  /** Audiences besides VAULT_AUDIENCE a subject token may carry when this agent exchanges it. */
  accepted_audiences: string[];
  /** A disabled agent cannot authenticate and its tokens release nothing. */
  disabled: boolean;
  /** Its tokens are bound to a DPoP key (RFC 9449): the token endpoint requires a proof. */
  dpop_bound: boolean;
  created_at: Date;
  updated_at: Date;
}

/** What `put` may change besides name and method; each omitted one is kept (a new agent: empty, enabled). */
export interface AgentIdentityFields {
  federated_credentials?: FederatedCredential[];
  accepted_audiences?: string[];
  disabled?: boolean;
}

/** An `agents` row: the one row type of the table (the secret hashes never leave this store). */
interface AgentRow extends Agent {
  tenant: string;
  secret_hash: string | null;
  previous_secret_hash: string | null;
  previous_secret_expires_at: Date | null;
}

/** The columns `toAgent` reads. */
const COLUMNS =
  'client_id, name, auth_method, jwks, federated_credentials, accepted_audiences, disabled, dpop_bound, created_at, updated_at';

/** The one mapper of an `agents` row: the public columns only, whatever the statement selected. */
function toAgent(r: Agent): Agent {
  return {
    client_id: r.client_id,
    name: r.name,
    auth_method: r.auth_method,
    jwks: r.jwks ?? null,
    federated_credentials: r.federated_credentials ?? [],
    accepted_audiences: r.accepted_audiences ?? [],
    disabled: r.disabled ?? false,
    dpop_bound: r.dpop_bound === true,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

/**
 * Registered agents (clients of the token service). A generated client secret is
 * shown once; only its SHA-256 is stored (it is 256 random bits, so no slow KDF is needed).
 */
@Injectable()
export class AgentStore {
  constructor(
    private readonly ds: DataSource,
    private readonly snapshots: PolicySnapshots,
  ) {}

  async list(tenant: TenantId): Promise<Agent[]> {
    const rows: Agent[] = await this.ds.query(`SELECT ${COLUMNS} FROM agents WHERE tenant = $1 ORDER BY client_id`, [tenant]);
    return rows.map(toAgent);
  }

  /** One agent, with what client authentication needs (never the secret hashes). */
  async find(tenant: TenantId, clientId: string): Promise<Agent | undefined> {
    const rows: Agent[] = await this.ds.query(`SELECT ${COLUMNS} FROM agents WHERE tenant = $1 AND client_id = $2`, [tenant, clientId]);
    return rows[0] && toAgent(rows[0]);
  }

  /** The agents with a federated credential for this issuer and subject (disabled ones included: the caller refuses them). */
  async findByFederatedSubject(tenant: TenantId, issuer: string, subject: string): Promise<Agent[]> {
    const rows: Agent[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM agents WHERE tenant = $1 AND federated_credentials @> $2::jsonb ORDER BY client_id LIMIT 10`,
      [tenant, JSON.stringify([{ issuer, subject }])],
    );
    return rows.map(toAgent);
  }

  /** Whether the agent is registered (the release path asks on every call: from the tenant's snapshot). */
  exists(tenant: TenantId, clientId: string): Promise<boolean> {
    const cached = this.snapshots.cached(tenant);
    return cached ? Promise.resolve(cached.agents.has(clientId)) : this.snapshots.get(tenant).then((s) => s.agents.has(clientId));
  }

  /** `exists`' answer when the tenant's snapshot is cached, without a promise (the release path); undefined: ask `exists`. */
  existsCached(tenant: TenantId, clientId: string): boolean | undefined {
    return this.snapshots.cached(tenant)?.agents.has(clientId);
  }

  /**
   * Creates or replaces an agent. Without `auth_method` an existing agent keeps its method and
   * credentials (secret, previous secret, JWKS) and only its name changes: a body that does not
   * mention them must not silently drop them (issue 20 item 1). A new agent defaults to `none`.
   */
  async put(
    tenant: TenantId,
    a: {
      client_id: string;
      name: string;
      auth_method?: AgentAuthMethod;
      jwks?: { keys: unknown[] } | null;
      dpop_bound?: boolean;
    } & AgentIdentityFields,
  ): Promise<{ created: boolean; authMethod: AgentAuthMethod; agent: Agent; clientSecret?: Secret }> {
    await ensureTenant(this.ds, tenant);
    // $4-$6: the identity fields, NULL when omitted (kept on update, defaults on insert).
    const identity = [
      a.federated_credentials === undefined ? null : JSON.stringify(a.federated_credentials),
      a.accepted_audiences === undefined ? null : JSON.stringify(a.accepted_audiences),
      a.disabled ?? null,
      a.dpop_bound ?? null,
    ];
    if (a.auth_method === undefined) {
      const kept: Array<Agent & { created: boolean }> = await this.ds.query(
        `INSERT INTO agents (tenant, client_id, name, auth_method, secret_hash, jwks, federated_credentials, accepted_audiences, disabled,
           dpop_bound)
         VALUES ($1, $2, $3, 'none', NULL, NULL, COALESCE($4::jsonb, '[]'), COALESCE($5::jsonb, '[]'), COALESCE($6::boolean, false),
           COALESCE($7::boolean, false))
         ON CONFLICT (tenant, client_id) DO UPDATE SET name = EXCLUDED.name, updated_at = now(),
           federated_credentials = COALESCE($4::jsonb, agents.federated_credentials),
           accepted_audiences = COALESCE($5::jsonb, agents.accepted_audiences), disabled = COALESCE($6::boolean, agents.disabled),
           dpop_bound = COALESCE($7::boolean, agents.dpop_bound)
         RETURNING (xmax = 0) AS created, ${COLUMNS}`,
        [tenant, a.client_id, a.name, ...identity],
      );
      this.snapshots.changed(tenant);
      return { created: Boolean(kept[0]?.created), authMethod: kept[0].auth_method, agent: toAgent(kept[0]) };
    }
    const secret =
      a.auth_method === 'client_secret_basic' || a.auth_method === 'client_secret_post'
        ? Secret.of(randomBytes(32).toString('base64url'))
        : undefined;
    const hash = secret ? hashSecret(secret) : null;
    // Federated credentials are credentials of method `none`: another method replaces them with none.
    const rows: Array<Agent & { created: boolean }> = await this.ds.query(
      `INSERT INTO agents (tenant, client_id, name, auth_method, secret_hash, jwks, federated_credentials, accepted_audiences, disabled,
         dpop_bound)
       VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::jsonb, '[]'), COALESCE($8::jsonb, '[]'), COALESCE($9::boolean, false),
         COALESCE($10::boolean, false))
       ON CONFLICT (tenant, client_id) DO UPDATE SET name = EXCLUDED.name, auth_method = EXCLUDED.auth_method,
         secret_hash = EXCLUDED.secret_hash, jwks = EXCLUDED.jwks, updated_at = now(),
         previous_secret_hash = NULL, previous_secret_expires_at = NULL,
         federated_credentials = CASE WHEN $4 = 'none' THEN COALESCE($7::jsonb, agents.federated_credentials) ELSE '[]' END,
         accepted_audiences = COALESCE($8::jsonb, agents.accepted_audiences), disabled = COALESCE($9::boolean, agents.disabled),
         dpop_bound = COALESCE($10::boolean, agents.dpop_bound)
       RETURNING (xmax = 0) AS created, ${COLUMNS}`,
      [tenant, a.client_id, a.name, a.auth_method, hash, a.jwks ? JSON.stringify(a.jwks) : null, ...identity],
    );
    this.snapshots.changed(tenant);
    return { created: Boolean(rows[0]?.created), authMethod: a.auth_method, agent: toAgent(rows[0]), clientSecret: secret };
  }

  async delete(tenant: TenantId, clientId: string): Promise<boolean> {
    const [, count]: [unknown, number] = await this.ds.query(`DELETE FROM agents WHERE tenant = $1 AND client_id = $2`, [tenant, clientId]);
    this.snapshots.changed(tenant);
    return count > 0;
  }

  /**
   * Constant-time check of a presented client secret against the current secret and, until
   * it expires, the previous one (rotation with overlap). Unknown agents cost the same.
   */
  async verifySecret(tenant: TenantId, clientId: string, presented: Secret): Promise<boolean> {
    const rows: Array<Pick<AgentRow, 'secret_hash'> & { previous_hash: string | null }> = await this.ds.query(
      `SELECT secret_hash, CASE WHEN previous_secret_expires_at > now() THEN previous_secret_hash END AS previous_hash
         FROM agents WHERE tenant = $1 AND client_id = $2`,
      [tenant, clientId],
    );
    const given = Buffer.from(hashSecret(presented), 'hex');
    const current = sameHash(rows[0]?.secret_hash, given);
    const previous = sameHash(rows[0]?.previous_hash, given);
    return current || previous;
  }

  /**
   * A new client secret (returned once); the old one keeps working for `overlapSeconds`.
   * Undefined when the agent does not exist or does not authenticate with a secret.
   */
  async rotateSecret(
    tenant: TenantId,
    clientId: string,
    overlapSeconds: number,
  ): Promise<{ clientSecret: Secret; previousExpiresAt: Date | null } | undefined> {
    const secret = Secret.of(randomBytes(32).toString('base64url'));
    // TypeORM answers an UPDATE with [rows, affected].
    const [rows]: [Array<Pick<AgentRow, 'previous_secret_expires_at'>>, number] = await this.ds.query(
      `UPDATE agents SET previous_secret_hash = secret_hash,
              previous_secret_expires_at = CASE WHEN $4::int > 0 THEN now() + make_interval(secs => $4::int) END,
              secret_hash = $3, updated_at = now()
        WHERE tenant = $1 AND client_id = $2 AND auth_method IN ('client_secret_basic', 'client_secret_post')
        RETURNING previous_secret_expires_at`,
      [tenant, clientId, hashSecret(secret), overlapSeconds],
    );
    if (!rows.length) return undefined;
    return { clientSecret: secret, previousExpiresAt: rows[0].previous_secret_expires_at ?? null };
  }
}

/** Both sides are SHA-256 digests (32 bytes); a missing hash still costs one comparison. */
function sameHash(storedHex: unknown, given: Buffer): boolean {
  const present = typeof storedHex === 'string' && storedHex.length === 64;
  const stored = Buffer.from(present ? storedHex : '0'.repeat(64), 'hex');
  return timingSafeEqual(stored, given) && present;
}

function hashSecret(s: Secret): string {
  return createHash('sha256').update(s.reveal(), 'utf8').digest('hex');
}
