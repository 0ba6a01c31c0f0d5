import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Audit retention (issue 22): old records go only as a whole segment ending at a signed anchor, through
 * one function, `audit_retain_through(seq, hash)`. It refuses a row that is not both in the chain and
 * among the anchors the vault emitted, deletes every row up to it (the append-only trigger lets a DELETE
 * through only below the boundary this function sets for its own transaction), and records the boundary
 * in `audit_retention`, where verification starts. The boundary only moves forward.
 *
 * A database-write attacker can reach the same path; what they cannot do is make it verify: `audit verify
 * --anchors` requires the boundary to be one of the signed anchors kept outside, and the chain to hold
 * the `audit.retention` record that the vault writes (with the MAC key) before it calls the function.
 */
export class AuditRetention1763800001101 implements MigrationInterface {
  name = 'AuditRetention1763800001101';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_retention (
        id integer PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        hash bytea NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE FUNCTION audit_retention_forward() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.seq > OLD.seq THEN RETURN NEW; END IF;
          RAISE EXCEPTION 'audit_retention only moves forward';
        END $$;
      CREATE TRIGGER audit_retention_forward BEFORE UPDATE OR DELETE ON audit_retention FOR EACH ROW
        EXECUTE FUNCTION audit_retention_forward();
      CREATE TRIGGER audit_retention_no_truncate BEFORE TRUNCATE ON audit_retention FOR EACH STATEMENT
        EXECUTE FUNCTION audit_retention_forward();

      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND OLD.seq <= coalesce(nullif(current_setting('vault.audit_retain_through', true), '')::bigint, 0) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit_events is append-only';
        END $$;

      CREATE FUNCTION audit_retain_through(p_seq bigint, p_hash bytea) RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE
          n bigint;
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM audit_anchors WHERE seq = p_seq AND hash = encode(p_hash, 'hex'))
             OR NOT EXISTS (SELECT 1 FROM audit_events WHERE seq = p_seq AND hash = p_hash) THEN
            RAISE EXCEPTION 'audit retention must end at an anchored row of the chain';
          END IF;
          PERFORM set_config('vault.audit_retain_through', p_seq::text, true);
          DELETE FROM audit_events WHERE seq <= p_seq;
          GET DIAGNOSTICS n = ROW_COUNT;
          PERFORM set_config('vault.audit_retain_through', '', true);
          INSERT INTO audit_retention (id, seq, hash) VALUES (1, p_seq, p_hash)
            ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = now();
          RETURN n;
        END $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP FUNCTION audit_retain_through(bigint, bytea);
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$;
      DROP TABLE audit_retention; DROP FUNCTION audit_retention_forward();
    `);
  }
}
