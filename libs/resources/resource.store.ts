import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ensureTenant } from '../db';
import { DomainError, TenantId } from '../kernel';
import { Resource } from './resource';

const COLUMNS = 'name, identifier, display_name, scopes, token_ttl_seconds, agents';

function toResource(r: Resource): Resource {
  return {
    name: r.name,
    identifier: r.identifier,
    display_name: r.display_name,
    scopes: r.scopes,
    token_ttl_seconds: r.token_ttl_seconds,
    agents: r.agents,
  };
}

/** The tenant's resources. Read per token request: a primary-key lookup, not worth a snapshot yet. */
@Injectable()
export class ResourceStore {
  constructor(private readonly ds: DataSource) {}

  async put(tenant: TenantId, r: Resource): Promise<{ created: boolean }> {
    await ensureTenant(this.ds, tenant);
    try {
      const rows: Array<{ created: boolean }> = await this.ds.query(
        `INSERT INTO resources (tenant, name, identifier, display_name, scopes, token_ttl_seconds, agents)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant, name) DO UPDATE SET identifier = EXCLUDED.identifier, display_name = EXCLUDED.display_name,
           scopes = EXCLUDED.scopes, token_ttl_seconds = EXCLUDED.token_ttl_seconds, agents = EXCLUDED.agents, updated_at = now()
         RETURNING (xmax = 0) AS created`,
        [tenant, r.name, r.identifier, r.display_name, JSON.stringify(r.scopes), r.token_ttl_seconds, r.agents],
      );
      return { created: Boolean(rows[0]?.created) };
    } catch (err) {
      if ((err as { code?: string }).code === '23505')
        throw new DomainError('conflict', `another resource of this tenant already has the identifier ${r.identifier}`);
      throw err;
    }
  }

  async get(tenant: TenantId, name: string): Promise<Resource | undefined> {
    const rows: Resource[] = await this.ds.query(`SELECT ${COLUMNS} FROM resources WHERE tenant = $1 AND name = $2`, [tenant, name]);
    return rows[0] && toResource(rows[0]);
  }

  /** The resource a token request names by its identifier (RFC 8707 `resource`). */
  async byIdentifier(tenant: TenantId, identifier: string): Promise<Resource | undefined> {
    const rows: Resource[] = await this.ds.query(`SELECT ${COLUMNS} FROM resources WHERE tenant = $1 AND identifier = $2`, [
      tenant,
      identifier,
    ]);
    return rows[0] && toResource(rows[0]);
  }

  async list(tenant: TenantId): Promise<Resource[]> {
    const rows: Resource[] = await this.ds.query(`SELECT ${COLUMNS} FROM resources WHERE tenant = $1 ORDER BY name`, [tenant]);
    return rows.map(toResource);
  }

  async delete(tenant: TenantId, name: string): Promise<boolean> {
    const [, count]: [unknown, number] = await this.ds.query(`DELETE FROM resources WHERE tenant = $1 AND name = $2`, [tenant, name]);
    return count > 0;
  }
}
