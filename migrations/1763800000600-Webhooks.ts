import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks for connection events (issue 4): one endpoint per tenant, its signing secret sealed
 * like any credential (DEK under the tenant key, so rotation rewraps it and retirement counts it),
 * and a transactional outbox the connection writes insert into in their own transaction.
 */
export class Webhooks1763800000600 implements MigrationInterface {
  name = 'Webhooks1763800000600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      -- One endpoint per tenant. \`id\` is part of the secret's AAD; a PUT replaces the row with a new id and secret.
      -- \`events\`: the event types delivered, or '*' for all of them.
      CREATE TABLE webhook_endpoints (
        tenant text PRIMARY KEY REFERENCES tenants(id),
        id uuid NOT NULL UNIQUE,
        url text NOT NULL,
        events text[] NOT NULL CHECK (cardinality(events) > 0),
        enabled boolean NOT NULL DEFAULT true,
        tk_version integer NOT NULL,
        dek_wrapped bytea NOT NULL,
        secret_ct bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- The DEK rewrap pages through (tenant, tk_version, id), as for connections.
      CREATE INDEX webhook_endpoints_tk_version ON webhook_endpoints (tenant, tk_version, id);
      CREATE TRIGGER webhook_endpoints_key_version_guard BEFORE INSERT OR UPDATE OF tk_version ON webhook_endpoints
        FOR EACH ROW EXECUTE FUNCTION key_version_guard();

      -- Events waiting for (or done with) delivery. The payload holds identifiers and states only, never
      -- a secret. A claim pushes next_attempt_at to the end of its lease, so a row whose dispatcher died
      -- becomes due again by itself. lease_owner stays set after an outcome (who made the last attempt);
      -- lease_expires_at is set only while a lease is held. last_attempt_at is when the last outcome was
      -- recorded; last_error is a class (http_500, timeout), never a response body.
      CREATE TABLE webhook_outbox (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        event_type text NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        lease_owner text,
        lease_expires_at timestamptz,
        last_attempt_at timestamptz,
        last_error text,
        finished_at timestamptz,
        CHECK ((status = 'pending') = (finished_at IS NULL))
      );
      CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'pending';
      CREATE INDEX webhook_outbox_finished ON webhook_outbox (finished_at) WHERE status <> 'pending';
      CREATE INDEX webhook_outbox_tenant ON webhook_outbox (tenant, created_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE webhook_outbox;
      DROP TRIGGER webhook_endpoints_key_version_guard ON webhook_endpoints;
      DROP TABLE webhook_endpoints;
    `);
  }
}
