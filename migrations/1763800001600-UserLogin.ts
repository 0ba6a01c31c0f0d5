import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Users sign in to the vault (issue 17 §1–2). Per tenant one OpenID provider for users, its client
 * secret sealed like any secret (DEK under the tenant key; AAD binds issuer and client id, so a row
 * pointed at another IdP in place no longer opens). Sign-in flows and sessions are server-side rows
 * keyed by the SHA-256 of the browser's cookie value (a database reader cannot ride a session).
 * A user's own per-agent switch is a row in `user_agent_denies`, read by the policy decision point
 * with the tenant's policy snapshot and invalidated through the same notification.
 */
export class UserLogin1763800001600 implements MigrationInterface {
  name = 'UserLogin1763800001600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE user_logins (
        tenant text PRIMARY KEY REFERENCES tenants(id),
        id uuid NOT NULL UNIQUE,
        issuer text NOT NULL,
        client_id text NOT NULL,
        scopes text[] NOT NULL,
        subject_claim text NOT NULL,
        roles_claim text,
        tk_version integer NOT NULL,
        dek_wrapped bytea NOT NULL,
        client_secret_ct bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX user_logins_tk_version ON user_logins (tenant, tk_version, id);
      CREATE TRIGGER user_logins_key_version_guard BEFORE INSERT OR UPDATE OF tk_version ON user_logins
        FOR EACH ROW EXECUTE FUNCTION key_version_guard();

      -- A sign-in under way: state and nonce here, the PKCE verifier only in the browser's cookie.
      CREATE TABLE user_login_flows (
        id_hash bytea PRIMARY KEY,
        tenant text NOT NULL,
        state text NOT NULL,
        nonce text NOT NULL,
        return_to text NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX user_login_flows_expires ON user_login_flows (expires_at);

      CREATE TABLE user_sessions (
        id_hash bytea PRIMARY KEY,
        tenant text NOT NULL,
        subject text NOT NULL,
        email text,
        roles text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz
      );
      CREATE INDEX user_sessions_subject ON user_sessions (tenant, subject);
      CREATE INDEX user_sessions_expires ON user_sessions (expires_at);

      CREATE TABLE user_agent_denies (
        tenant text NOT NULL,
        subject text NOT NULL,
        integration text NOT NULL,
        agent text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, subject, integration, agent)
      );
      -- Same notification as migration 700's, in a function of its own: that migration's down must not depend on this one.
      CREATE FUNCTION user_agent_denies_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'TRUNCATE' THEN PERFORM pg_notify('vault_policy_changed', '*'); RETURN NULL; END IF;
          IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM pg_notify('vault_policy_changed', OLD.tenant); END IF;
          IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM pg_notify('vault_policy_changed', NEW.tenant); END IF;
          RETURN NULL;
        END $$;
      CREATE TRIGGER user_agent_denies_changed AFTER INSERT OR UPDATE OR DELETE ON user_agent_denies FOR EACH ROW EXECUTE FUNCTION user_agent_denies_notify();
      CREATE TRIGGER user_agent_denies_truncated AFTER TRUNCATE ON user_agent_denies FOR EACH STATEMENT EXECUTE FUNCTION user_agent_denies_notify();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `DROP TABLE user_agent_denies; DROP FUNCTION user_agent_denies_notify(); DROP TABLE user_sessions; DROP TABLE user_login_flows; DROP TABLE user_logins;`,
    );
  }
}
