import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Downscoped access tokens (issue 14): when a policy's scope ceiling (or a release's `scopes`) is
 * narrower than a connection's grant, the vault asks the provider for a token carrying only the
 * allowed set (RFC 6749 §6) and caches it here, sealed, per (connection, scope set).
 *
 * `source_digest` is SHA-256 of the connection's sealed refresh token at derivation: every commit
 * or reconnect seals anew, so a derived token outlives neither a reconnect nor a refresh of the
 * grant it came from (it is derived again). Deleting the connection deletes them.
 * A sealed table like the others (SEALED_TABLES): tenant-key rotation rewraps it, retirement counts it.
 */
export class DerivedTokens1763800001000 implements MigrationInterface {
  name = 'DerivedTokens1763800001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE derived_tokens (
        id uuid PRIMARY KEY,
        tenant text NOT NULL REFERENCES tenants(id),
        connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        scope_key text NOT NULL,
        scopes text[] NOT NULL,
        source_digest bytea NOT NULL,
        tk_version integer NOT NULL,
        dek_wrapped bytea NOT NULL,
        access_token_ct bytea NOT NULL,
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant, connection_id, scope_key)
      );
      CREATE INDEX derived_tokens_tk_version ON derived_tokens (tenant, tk_version);
      CREATE INDEX derived_tokens_connection ON derived_tokens (connection_id);
      CREATE TRIGGER derived_tokens_key_version_guard BEFORE INSERT OR UPDATE OF tk_version ON derived_tokens
        FOR EACH ROW EXECUTE FUNCTION key_version_guard();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE derived_tokens`);
  }
}
