import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The vault as OAuth 2.1 authorization server for MCP clients (issue 19 §2). Clients registered
 * dynamically (RFC 7591; Client ID Metadata Documents are fetched, not stored), authorization
 * requests waiting for consent, codes, rotating refresh tokens grouped in families (reuse revokes
 * the family) and remembered consents. Codes and refresh tokens are stored as SHA-256 hashes only.
 */
export class AuthorizationServer1763800002301 implements MigrationInterface {
  name = 'AuthorizationServer1763800002301';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE oauth_clients (
        tenant text NOT NULL REFERENCES tenants(id),
        client_id text NOT NULL,
        client_name text NOT NULL,
        redirect_uris text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, client_id)
      );
      CREATE INDEX oauth_clients_unused ON oauth_clients (last_used_at);

      CREATE TABLE oauth_authorization_requests (
        id_hash bytea PRIMARY KEY,
        tenant text NOT NULL,
        session_id text NOT NULL,
        subject text NOT NULL,
        roles text[] NOT NULL,
        client_id text NOT NULL,
        redirect_uri text NOT NULL,
        code_challenge text NOT NULL,
        state text,
        resource text NOT NULL,
        scopes text[] NOT NULL,
        expires_at timestamptz NOT NULL
      );

      CREATE TABLE oauth_codes (
        code_hash bytea PRIMARY KEY,
        family uuid NOT NULL,
        tenant text NOT NULL,
        client_id text NOT NULL,
        redirect_uri text NOT NULL,
        code_challenge text NOT NULL,
        subject text NOT NULL,
        roles text[] NOT NULL,
        resource text NOT NULL,
        scopes text[] NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz
      );

      CREATE TABLE oauth_refresh_tokens (
        token_hash bytea PRIMARY KEY,
        family uuid NOT NULL,
        tenant text NOT NULL,
        client_id text NOT NULL,
        subject text NOT NULL,
        roles text[] NOT NULL,
        resource text NOT NULL,
        scopes text[] NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        revoked_at timestamptz
      );
      CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (family);
      CREATE INDEX oauth_refresh_tokens_consent ON oauth_refresh_tokens (tenant, subject, client_id, resource);

      CREATE TABLE oauth_consents (
        tenant text NOT NULL REFERENCES tenants(id),
        subject text NOT NULL,
        client_id text NOT NULL,
        resource text NOT NULL,
        client_name text NOT NULL,
        scopes text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, subject, client_id, resource)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `DROP TABLE oauth_consents; DROP TABLE oauth_refresh_tokens; DROP TABLE oauth_codes; DROP TABLE oauth_authorization_requests; DROP TABLE oauth_clients`,
    );
  }
}
