import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * AAD scheme 2 (issue 14): sealed fields bind their row's identifying columns. `tenants.aad_scheme`
 * is the oldest scheme still opened for a tenant: existing tenants start at 1 (their rows are
 * scheme 1 until the `aad_reseal` key job has re-sealed them, then it is raised to 2); tenants
 * created from now on only ever have scheme-2 rows. The floor never goes down (a database writer
 * cannot quietly re-enable the old scheme without DDL rights), and `aad_scheme_raised_at` tells
 * other processes to raise theirs.
 */
export class AadScheme1763800000900 implements MigrationInterface {
  name = 'AadScheme1763800000900';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE tenants ADD COLUMN aad_scheme smallint NOT NULL DEFAULT 1 CHECK (aad_scheme IN (1, 2)),
        ADD COLUMN aad_scheme_raised_at timestamptz;
      ALTER TABLE tenants ALTER COLUMN aad_scheme SET DEFAULT 2;
      CREATE INDEX tenants_aad_scheme_raised ON tenants (aad_scheme_raised_at) WHERE aad_scheme_raised_at IS NOT NULL;

      CREATE FUNCTION aad_scheme_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.aad_scheme < OLD.aad_scheme THEN
            RAISE EXCEPTION 'the AAD scheme floor of a tenant never goes down' USING ERRCODE = 'VK002';
          END IF;
          RETURN NEW;
        END $$;
      CREATE TRIGGER tenants_aad_scheme_guard BEFORE UPDATE OF aad_scheme ON tenants FOR EACH ROW EXECUTE FUNCTION aad_scheme_guard();

      ALTER TABLE key_jobs DROP CONSTRAINT key_jobs_kind_check;
      ALTER TABLE key_jobs ADD CONSTRAINT key_jobs_kind_check
        CHECK (kind IN ('kek_rotate', 'tenant_rotate', 'signing_rotate', 'aad_reseal'));
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DELETE FROM key_jobs WHERE kind = 'aad_reseal';
      ALTER TABLE key_jobs DROP CONSTRAINT key_jobs_kind_check;
      ALTER TABLE key_jobs ADD CONSTRAINT key_jobs_kind_check CHECK (kind IN ('kek_rotate', 'tenant_rotate', 'signing_rotate'));
      DROP TRIGGER tenants_aad_scheme_guard ON tenants;
      DROP FUNCTION aad_scheme_guard();
      DROP INDEX tenants_aad_scheme_raised;
      ALTER TABLE tenants DROP COLUMN aad_scheme_raised_at, DROP COLUMN aad_scheme;
    `);
  }
}
