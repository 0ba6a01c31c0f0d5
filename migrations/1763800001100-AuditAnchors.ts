import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Audit log append-only for real (issue 22), and the anchors the vault has signed.
 *
 * - `TRUNCATE audit_events` is refused (a row trigger never sees it).
 * - `audit_chain_head` moves only forward, the way the chain writer moves it: its one statement
 *   inserts the batch (a data-modifying CTE) and sets the head to the batch's last row. The check is
 *   an AFTER trigger, queued until the end of that statement, so it sees the inserted rows: the new
 *   head must be a stored row, every seq between the old head and it must be present, and the first
 *   of them must link to the old head. One primary-key range scan inside the statement the writer
 *   already runs: no round trip is added (bench/audit-head-guard.bench.ts measures its time). DELETE and
 * TRUNCATE are refused; a first INSERT only creates the genesis
 *   head of an empty log.
 * - `audit_anchors`: a convenience copy of what was sent outside. Verification never trusts it alone.
 *
 * A superuser can still switch triggers off; the signed anchors kept outside are what catch that.
 */
export class AuditAnchors1763800001100 implements MigrationInterface {
  name = 'AuditAnchors1763800001100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION audit_events_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$;
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_no_truncate();

      CREATE FUNCTION audit_chain_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          ok boolean;
        BEGIN
          IF TG_OP = 'INSERT' THEN
            IF NEW.seq <> 0 OR NEW.hash <> '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
               OR EXISTS (SELECT 1 FROM audit_events) THEN
              RAISE EXCEPTION 'audit_chain_head starts at the genesis of an empty log';
            END IF;
            RETURN NULL;
          END IF;
          IF TG_OP <> 'UPDATE' THEN RAISE EXCEPTION 'audit_chain_head only moves forward'; END IF;
          IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq THEN RAISE EXCEPTION 'audit_chain_head only moves forward'; END IF;
          -- One range scan of the primary key over the batch just inserted.
          SELECT count(*) = NEW.seq - OLD.seq AND bool_or(seq = NEW.seq AND hash = NEW.hash) AND bool_or(seq = OLD.seq + 1
            AND prev_hash = OLD.hash)
            INTO ok FROM audit_events WHERE seq > OLD.seq AND seq <= NEW.seq;
          IF ok IS NOT TRUE THEN RAISE EXCEPTION 'audit_chain_head must move to the last row of an appended batch'; END IF;
          RETURN NULL;
        END $$;
      CREATE TRIGGER audit_chain_head_advance AFTER INSERT OR UPDATE ON audit_chain_head
        FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard();
      CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
        FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard();
      CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
        FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_guard();

      CREATE TABLE audit_anchors (
        seq bigint NOT NULL,
        hash text NOT NULL,
        at timestamptz NOT NULL,
        vault text NOT NULL,
        alg text NOT NULL,
        kid text NOT NULL,
        sig text NOT NULL,
        PRIMARY KEY (seq, at)
      );
      CREATE INDEX audit_anchors_at ON audit_anchors (at DESC);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE audit_anchors;
      DROP TRIGGER audit_chain_head_no_truncate ON audit_chain_head; DROP TRIGGER audit_chain_head_no_delete ON audit_chain_head;
      DROP TRIGGER audit_chain_head_advance ON audit_chain_head; DROP FUNCTION audit_chain_head_guard();
      DROP TRIGGER audit_events_no_truncate ON audit_events; DROP FUNCTION audit_events_no_truncate();
    `);
  }
}
