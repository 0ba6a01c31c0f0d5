import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Online key rotation (issue 5): background key jobs with leases and progress, the
 * previous value of a rotated API key, a guard that no row can name a retired tenant-key
 * version, and indexes the rewrap jobs page through.
 */
export class KeyRotation1763800000100 implements MigrationInterface {
  name = 'KeyRotation1763800000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      -- KEK rewraps and tenant-key rotations. A job is leased by one worker at a time; a
      -- worker that dies loses its lease and another resumes (every step is idempotent).
      -- Signing-key rotations are instant; they are recorded here as finished jobs.
      CREATE TABLE key_jobs (
        id uuid PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('kek_rotate', 'tenant_rotate', 'signing_rotate')),
        tenant text,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
        params jsonb NOT NULL DEFAULT '{}',
        total bigint NOT NULL DEFAULT 0,
        done bigint NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0,
        requested_by text NOT NULL,
        error_class text,
        lease_owner text,
        lease_expires_at timestamptz,
        not_before timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((kind = 'tenant_rotate') = (tenant IS NOT NULL))
      );
      -- One open job per kind and tenant: a second request gets the open one back.
      CREATE UNIQUE INDEX key_jobs_one_open ON key_jobs (kind, COALESCE(tenant, '')) WHERE status IN ('pending', 'running');
      CREATE INDEX key_jobs_runnable ON key_jobs (not_before) WHERE status IN ('pending', 'running');
      CREATE INDEX key_jobs_recent ON key_jobs (created_at DESC);

      -- A rotated API key: the previous value stays sealed (same DEK) until its grace period ends.
      ALTER TABLE connections ADD COLUMN previous_api_key_ct bytea, ADD COLUMN previous_expires_at timestamptz,
        ADD CONSTRAINT connections_previous_pair CHECK ((previous_api_key_ct IS NULL) = (previous_expires_at IS NULL));
      CREATE INDEX connections_previous_expiry ON connections (previous_expires_at) WHERE previous_expires_at IS NOT NULL;

      -- The DEK rewrap pages through (tenant, tk_version, id); the old index is its prefix.
      DROP INDEX connections_tk_version;
      CREATE INDEX connections_tk_version ON connections (tenant, tk_version, id);
      CREATE INDEX integrations_tk_version ON integrations (tenant, tk_version, id) WHERE tk_version IS NOT NULL;

      -- When a tenant key was destroyed: other processes evict it from their caches.
      ALTER TABLE tenant_keys ADD COLUMN destroyed_at timestamptz;
      CREATE INDEX tenant_keys_destroyed ON tenant_keys (destroyed_at) WHERE destroyed_at IS NOT NULL;
      ALTER TABLE tenants ADD COLUMN shredded_at timestamptz;

      -- No row may name a retired tenant-key version. FOR SHARE serialises against retirement
      -- (which holds the tenant row FOR UPDATE while it counts): a write sealed under a key that
      -- was retired meanwhile fails here (SQLSTATE VK001) instead of committing an unreadable row.
      -- An update that raises the version (every DEK rewrap) needs no check: either the old row
      -- still names a version below the floor, and retirement (which counts committed rows) is
      -- refused, or the old version was already at or above it, and so is the new one.
      CREATE FUNCTION key_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE floor integer;
        BEGIN
          IF NEW.tk_version IS NULL THEN RETURN NEW; END IF;
          IF TG_OP = 'UPDATE' AND NEW.tk_version > OLD.tk_version THEN RETURN NEW; END IF;
          SELECT min_key_version INTO floor FROM tenants WHERE id = NEW.tenant FOR SHARE;
          IF floor IS NOT NULL AND NEW.tk_version < floor THEN
            RAISE EXCEPTION 'tenant key version is retired' USING ERRCODE = 'VK001';
          END IF;
          RETURN NEW;
        END $$;
      CREATE TRIGGER connections_key_version_guard BEFORE INSERT OR UPDATE OF tk_version ON connections
        FOR EACH ROW EXECUTE FUNCTION key_version_guard();
      CREATE TRIGGER integrations_key_version_guard BEFORE INSERT OR UPDATE OF tk_version ON integrations
        FOR EACH ROW EXECUTE FUNCTION key_version_guard();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER integrations_key_version_guard ON integrations; DROP TRIGGER connections_key_version_guard ON connections;
      DROP FUNCTION key_version_guard();
      ALTER TABLE tenants DROP COLUMN shredded_at;
      DROP INDEX tenant_keys_destroyed; ALTER TABLE tenant_keys DROP COLUMN destroyed_at;
      DROP INDEX integrations_tk_version; DROP INDEX connections_tk_version;
      CREATE INDEX connections_tk_version ON connections (tenant, tk_version);
      DROP INDEX connections_previous_expiry;
      ALTER TABLE connections DROP CONSTRAINT connections_previous_pair, DROP COLUMN previous_expires_at, DROP COLUMN previous_api_key_ct;
      DROP TABLE key_jobs;
    `);
  }
}
