import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * CIBA approvals (issue 17 §3). Policies may require a person's approval (`require_approval`, for how
 * long an approval lasts: `approval_ttl_seconds`, who approves: `approvers`). An `approvals` row is one
 * backchannel authentication request: the agent holds `auth_req_id`, the row only its SHA-256 (a
 * database reader cannot poll for a token); the approval page and the audit name the row's `id`.
 * Release events carry the approval id in `details`, so the audit query filters on it (partial index).
 */
export class Approvals1763800001900 implements MigrationInterface {
  name = 'Approvals1763800001900';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE policies
        ADD COLUMN require_approval boolean NOT NULL DEFAULT false,
        ADD COLUMN approval_ttl_seconds integer,
        ADD COLUMN approvers text NOT NULL DEFAULT 'user' CHECK (approvers IN ('user'));

      CREATE TABLE approvals (
        id uuid PRIMARY KEY,
        tenant text NOT NULL REFERENCES tenants(id),
        auth_req_hash bytea NOT NULL UNIQUE,
        agent text NOT NULL,
        subject text NOT NULL,
        -- Roles and groups of the user's token: policy is decided again, with them, when the token is issued.
        claims jsonb NOT NULL DEFAULT '{}',
        scopes text[] NOT NULL,
        binding_message text,
        authorization_details jsonb,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'issued')),
        ttl_seconds integer NOT NULL,
        interval_seconds integer NOT NULL,
        last_polled_at timestamptz,
        expires_at timestamptz NOT NULL,
        decided_at timestamptz,
        decided_by text,
        approved_until timestamptz,
        token_jti uuid,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX approvals_expires ON approvals (expires_at);
      CREATE INDEX approvals_subject ON approvals (tenant, subject, created_at);
      CREATE INDEX audit_events_approval ON audit_events (tenant, (details->>'approval'), seq) WHERE details ? 'approval';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX IF EXISTS audit_events_approval;
      DROP TABLE IF EXISTS approvals;
      ALTER TABLE policies DROP COLUMN IF EXISTS require_approval, DROP COLUMN IF EXISTS approval_ttl_seconds,
        DROP COLUMN IF EXISTS approvers;
    `);
  }
}
