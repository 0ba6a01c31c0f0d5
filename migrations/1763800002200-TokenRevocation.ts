import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 18 §4–5: revocation of the vault's own tokens, and DPoP-bound agents.
 * - `token_revocations`: one revoked token (by `jti`), kept until the token would have expired.
 * - `token_cutoffs`: "every token of this agent / this user issued up to this instant is revoked".
 * Every write notifies `vault_tokens_revoked` (delivered on commit) with the row, so that each API
 * process updates its in-memory list without a query per release; the listeners also resync
 * periodically. `agents.dpop_bound`: the agent's tokens are bound to a DPoP key (RFC 9449).
 */
export class TokenRevocation1763800002200 implements MigrationInterface {
  name = 'TokenRevocation1763800002200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE token_revocations (
        tenant text NOT NULL,
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, jti)
      );
      CREATE INDEX token_revocations_expiry ON token_revocations (expires_at);
      CREATE TABLE token_cutoffs (
        tenant text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('agent', 'subject')),
        name text NOT NULL,
        cutoff timestamptz NOT NULL,
        PRIMARY KEY (tenant, kind, name)
      );
      CREATE FUNCTION token_revoked_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP <> 'INSERT' AND TG_OP <> 'UPDATE' THEN PERFORM pg_notify('vault_tokens_revoked', '*'); RETURN NULL; END IF;
          IF TG_TABLE_NAME = 'token_revocations' THEN
            PERFORM pg_notify('vault_tokens_revoked', json_build_object('k', 'jti', 't', NEW.tenant, 'n', NEW.jti,
              'at', floor(extract(epoch FROM NEW.expires_at)))::text);
          ELSE
            PERFORM pg_notify('vault_tokens_revoked', json_build_object('k', NEW.kind, 't', NEW.tenant, 'n', NEW.name,
              'at', floor(extract(epoch FROM NEW.cutoff)))::text);
          END IF;
          RETURN NULL;
        END $$;
      CREATE TRIGGER token_revocations_changed AFTER INSERT OR UPDATE OR DELETE ON token_revocations
        FOR EACH ROW EXECUTE FUNCTION token_revoked_notify();
      CREATE TRIGGER token_cutoffs_changed AFTER INSERT OR UPDATE OR DELETE ON token_cutoffs
        FOR EACH ROW EXECUTE FUNCTION token_revoked_notify();
      CREATE TRIGGER token_revocations_truncated AFTER TRUNCATE ON token_revocations
        FOR EACH STATEMENT EXECUTE FUNCTION token_revoked_notify();
      CREATE TRIGGER token_cutoffs_truncated AFTER TRUNCATE ON token_cutoffs
        FOR EACH STATEMENT EXECUTE FUNCTION token_revoked_notify();
      ALTER TABLE agents ADD COLUMN dpop_bound boolean NOT NULL DEFAULT false;
      -- A replay cache: UNLOGGED, so its one insert per DPoP release needs no WAL flush of its own.
      -- After a Postgres crash it is empty: proofs accepted within the last minute could be replayed once.
      CREATE UNLOGGED TABLE dpop_proof_jtis (
        jkt text NOT NULL,
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (jkt, jti)
      );
      CREATE INDEX dpop_proof_jtis_expiry ON dpop_proof_jtis (expires_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE dpop_proof_jtis;
      ALTER TABLE agents DROP COLUMN dpop_bound;
      DROP TABLE token_cutoffs;
      DROP TABLE token_revocations;
      DROP FUNCTION token_revoked_notify();
    `);
  }
}
