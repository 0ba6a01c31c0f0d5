import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The initial schema. Raw SQL, unqualified: the connection's search_path is the
 * vault's own schema (VAULT_DB_SCHEMA). Every table that holds user data carries `tenant`.
 */
export class Initial1763800000000 implements MigrationInterface {
  name = 'Initial1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenants (
        id text PRIMARY KEY,
        min_key_version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      -- Tenant keys (TK): random AES-256 wrapped by a versioned KEK id. One active per tenant.
      CREATE TABLE tenant_keys (
        tenant text NOT NULL REFERENCES tenants(id),
        version integer NOT NULL,
        kek_key_id text NOT NULL,
        wrapped bytea NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'decrypt_only', 'destroyed')),
        encryptions bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, version)
      );
      CREATE UNIQUE INDEX tenant_keys_one_active ON tenant_keys (tenant) WHERE status = 'active';
      CREATE INDEX tenant_keys_kek ON tenant_keys (kek_key_id);

      -- Keys of the vault itself (audit MAC key, token signing keys), wrapped by the KEK.
      CREATE TABLE system_keys (
        purpose text NOT NULL,
        version integer NOT NULL,
        kek_key_id text NOT NULL,
        wrapped bytea NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'decrypt_only', 'destroyed')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (purpose, version)
      );

      CREATE TABLE integrations (
        tenant text NOT NULL REFERENCES tenants(id),
        name text NOT NULL,
        id uuid NOT NULL UNIQUE,
        provider text NOT NULL,
        level text NOT NULL CHECK (level IN ('user', 'tenant')),
        config jsonb NOT NULL DEFAULT '{}',
        -- client secret, encrypted like any credential (DEK under the TK)
        tk_version integer,
        dek_wrapped bytea,
        client_secret_ct bytea,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, name)
      );

      CREATE TABLE agents (
        tenant text NOT NULL REFERENCES tenants(id),
        client_id text NOT NULL,
        name text NOT NULL,
        auth_method text NOT NULL CHECK (auth_method IN ('none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt')),
        secret_hash text,
        jwks jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, client_id)
      );

      CREATE TABLE policies (
        tenant text NOT NULL REFERENCES tenants(id),
        name text NOT NULL,
        effect text NOT NULL CHECK (effect IN ('allow', 'deny')),
        agents text[] NOT NULL,
        integrations text[] NOT NULL,
        scopes text[] NOT NULL DEFAULT '{}',
        users jsonb NOT NULL DEFAULT '{}',
        max_ttl_seconds integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, name)
      );

      -- A user's (subject <> '') or the tenant's (subject = '') account on an integration.
      CREATE TABLE connections (
        id uuid PRIMARY KEY,
        tenant text NOT NULL REFERENCES tenants(id),
        integration text NOT NULL,
        subject text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('oauth2', 'api_key')),
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reauth', 'revoked', 'refresh_indeterminate')),
        version bigint NOT NULL DEFAULT 1,
        tk_version integer NOT NULL,
        dek_wrapped bytea NOT NULL,
        access_token_ct bytea,
        refresh_token_ct bytea,
        api_key_ct bytea,
        expires_at timestamptz,
        refresh_token_expires_at timestamptz,
        scopes text[] NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        provider_account_id text,
        lease_owner text,
        lease_expires_at timestamptz,
        next_refresh_at timestamptz,
        last_refresh_at timestamptz,
        last_error_class text,
        last_used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (tenant, integration) REFERENCES integrations (tenant, name) ON DELETE CASCADE,
        UNIQUE (tenant, integration, subject)
      );
      CREATE INDEX connections_tenant_subject ON connections (tenant, subject);
      CREATE INDEX connections_tk_version ON connections (tenant, tk_version);
      CREATE INDEX connections_refresh_due ON connections (next_refresh_at) WHERE kind = 'oauth2' AND status = 'active';

      -- Append-only audit log, hash-chained (keyed) across all tenants in seq order.
      CREATE TABLE audit_events (
        seq bigint PRIMARY KEY,
        id uuid NOT NULL UNIQUE,
        at timestamptz NOT NULL,
        tenant text NOT NULL,
        action text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error')),
        reason text,
        agent text,
        subject text,
        integration text,
        details jsonb NOT NULL DEFAULT '{}',
        prev_hash bytea NOT NULL,
        hash bytea NOT NULL
      );
      CREATE INDEX audit_events_tenant_seq ON audit_events (tenant, seq DESC);
      CREATE INDEX audit_events_tenant_action ON audit_events (tenant, action, seq DESC);
      CREATE TABLE audit_chain_head (
        id integer PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        hash bytea NOT NULL
      );
      -- The log is append-only: no UPDATE or DELETE through the application role.
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$;
      CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE audit_chain_head; DROP TABLE audit_events; DROP FUNCTION audit_events_append_only();
      DROP TABLE connections; DROP TABLE policies; DROP TABLE agents; DROP TABLE integrations;
      DROP TABLE system_keys; DROP TABLE tenant_keys; DROP TABLE tenants;
    `);
  }
}
