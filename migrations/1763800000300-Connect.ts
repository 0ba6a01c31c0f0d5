import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Connect sessions: a single-use URL that lets one browser connect one user's account on one
 * integration. Only SHA-256 hashes of the URL secret, the browser-binding cookie and the OAuth
 * `state` are stored; the PKCE verifier is sealed by the keyring like any secret.
 */
export class Connect1763800000300 implements MigrationInterface {
  name = 'Connect1763800000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE connect_sessions (
        id uuid PRIMARY KEY,
        tenant text NOT NULL REFERENCES tenants(id),
        integration text NOT NULL,
        subject text NOT NULL CHECK (subject <> ''),
        return_url text,
        expected_email text,
        expected_subject text,
        created_by text NOT NULL,
        url_hash bytea NOT NULL UNIQUE,
        browser_hash bytea,
        state_hash bytea UNIQUE,
        tk_version integer,
        dek_wrapped bytea,
        code_verifier_ct bytea,
        status text NOT NULL DEFAULT 'pending'
          CHECK (status IN ('pending', 'claimed', 'authorizing', 'exchanging', 'completed', 'cancelled', 'failed')),
        error_code text,
        expires_at timestamptz NOT NULL,
        browser_expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (tenant, integration) REFERENCES integrations (tenant, name) ON DELETE CASCADE
      );
      CREATE INDEX connect_sessions_expiry ON connect_sessions (expires_at);
      CREATE INDEX connect_sessions_subject ON connect_sessions (tenant, subject);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE connect_sessions`);
  }
}
