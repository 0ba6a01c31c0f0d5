import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RecordRef, SealedFields, SealedWrite } from '../crypto';
import { ensureTenant } from '../db';
import { DomainError, Secret, TenantId } from '../kernel';
import { kindOf } from './providers';

export interface IntegrationInput {
  provider: string;
  level: 'user' | 'tenant';
  /** Everything that is not a secret: client_id, scopes, URLs, display name, API-key definition. */
  config: Record<string, unknown>;
  clientSecret?: Secret;
}

export interface Integration {
  id: string;
  name: string;
  provider: string;
  kind: 'oauth2' | 'api_key';
  level: 'user' | 'tenant';
  config: Record<string, unknown>;
  hasClientSecret: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const TABLE = 'integrations';

/** An `integrations` row (`SELECT *`): the one row type of the table, read by this store and the client-secret reader. */
export interface IntegrationRow {
  tenant: string;
  name: string;
  id: string;
  provider: string;
  level: 'user' | 'tenant';
  config: Record<string, unknown>;
  tk_version: number | null;
  dek_wrapped: Buffer | null;
  client_secret_ct: Buffer | null;
  created_at: Date;
  updated_at: Date;
}

/** What an integration's client secret is bound to: the row, and the integration's name (invariant 3). */
export function integrationRef(tenant: TenantId, id: string, name: string): RecordRef {
  return { tenant, table: TABLE, id, bind: { name } };
}

/** A tenant's integrations. The client secret is sealed by the keyring and never read back out through here. */
@Injectable()
export class IntegrationStore {
  constructor(
    private readonly ds: DataSource,
    private readonly sealed: SealedFields,
  ) {}

  async get(tenant: TenantId, name: string): Promise<Integration | undefined> {
    const rows: IntegrationRow[] = await this.ds.query(`SELECT * FROM integrations WHERE tenant = $1 AND name = $2`, [tenant, name]);
    return rows[0] && toIntegration(rows[0]);
  }

  async list(tenant: TenantId): Promise<Integration[]> {
    const rows: IntegrationRow[] = await this.ds.query(`SELECT * FROM integrations WHERE tenant = $1 ORDER BY name`, [tenant]);
    return rows.map(toIntegration);
  }

  async put(tenant: TenantId, name: string, input: IntegrationInput): Promise<{ created: boolean; integration: Integration }> {
    const existing = await this.get(tenant, name);
    if (existing && existing.kind !== kindOf(input.provider)) {
      throw new DomainError('conflict', `integration "${name}" is of kind ${existing.kind}; delete it before changing its kind`);
    }
    if (!existing && kindOf(input.provider) === 'oauth2' && !input.clientSecret) {
      throw new DomainError('validation_failed', 'client_secret is required for OAuth integrations', {
        extra: { errors: [{ field: 'client_secret', message: 'is required' }] },
      });
    }
    const id = existing?.id ?? randomUUID();
    await ensureTenant(this.ds, tenant);
    const upsert = async (sealed?: SealedWrite): Promise<Array<IntegrationRow & { created: boolean }>> =>
      this.ds.query(
        `INSERT INTO integrations (tenant, name, id, provider, level, config, tk_version, dek_wrapped, client_secret_ct)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant, name) DO UPDATE SET provider = EXCLUDED.provider, level = EXCLUDED.level, config = EXCLUDED.config,
           tk_version = COALESCE(EXCLUDED.tk_version, integrations.tk_version),
           dek_wrapped = COALESCE(EXCLUDED.dek_wrapped, integrations.dek_wrapped),
           client_secret_ct = COALESCE(EXCLUDED.client_secret_ct, integrations.client_secret_ct),
           updated_at = now()
         WHERE integrations.id = EXCLUDED.id
         RETURNING *, (xmax = 0) AS created`,
        [
          tenant,
          name,
          id,
          input.provider,
          input.level,
          JSON.stringify(input.config),
          sealed?.tkVersion ?? null,
          sealed?.dekWrapped ?? null,
          sealed?.fields.client_secret ?? null,
        ],
      );
    const rows = input.clientSecret
      ? await this.sealed.write(
          integrationRef(tenant, id, name),
          { client_secret: Buffer.from(input.clientSecret.reveal(), 'utf8') },
          upsert,
        )
      : await upsert();
    if (!rows.length) throw new DomainError('conflict', `integration "${name}" was changed concurrently; retry`);
    return { created: Boolean(rows[0].created), integration: toIntegration(rows[0]) };
  }

  async delete(tenant: TenantId, name: string): Promise<boolean> {
    // Connections cascade: their rows, wrapped DEKs included, go with it (crypto-shredding).
    const [, count]: [unknown, number] = await this.ds.query(`DELETE FROM integrations WHERE tenant = $1 AND name = $2`, [tenant, name]);
    return count > 0;
  }
}

/** The one mapper of an `integrations` row (the sealed secret stays behind). */
function toIntegration(r: IntegrationRow): Integration {
  return {
    id: r.id,
    name: r.name,
    provider: r.provider,
    kind: kindOf(r.provider),
    level: r.level,
    config: r.config,
    hasClientSecret: r.client_secret_ct != null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
