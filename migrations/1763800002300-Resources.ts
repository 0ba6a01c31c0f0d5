import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Resources (issue 19 §1): the tenant's own APIs and MCP servers the vault issues RFC 9068 access
 * tokens for (RFC 8707 `resource`). Scopes with the roles allowed to hold them are a JSON object
 * (name → { description, roles_any, require_approval }), read whole with the row; the identifier is
 * unique per tenant, since it is what a token request names.
 */
export class Resources1763800002300 implements MigrationInterface {
  name = 'Resources1763800002300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE resources (
        tenant text NOT NULL REFERENCES tenants(id),
        name text NOT NULL,
        identifier text NOT NULL,
        display_name text NOT NULL,
        scopes jsonb NOT NULL,
        token_ttl_seconds integer NOT NULL CHECK (token_ttl_seconds > 0),
        agents text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, name),
        UNIQUE (tenant, identifier)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE resources`);
  }
}
