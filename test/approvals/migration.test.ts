import { Approvals1763800001900 } from '../../migrations/1763800001900-Approvals';
import { createTestDatabase, TestDatabase } from '../support/database';

/** STYLE.md 8: migration 1900 goes down and up again over a schema with data. */
describe('migration 1763800001900-Approvals', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('keeps existing policies (not requiring approval), and down/up restores the table, columns and index', async () => {
    await db.ds.query(`INSERT INTO tenants (id) VALUES ('acme')`);
    const q = db.ds.createQueryRunner();
    try {
      const migration = new Approvals1763800001900();
      await migration.down(q);
      await db.ds.query(`INSERT INTO policies (tenant, name, effect, agents, integrations) VALUES ('acme', 'old', 'allow', '{*}', '{*}')`);
      await migration.up(q);
      expect(await db.ds.query(`SELECT name, require_approval, approval_ttl_seconds, approvers FROM policies`)).toEqual([
        { name: 'old', require_approval: false, approval_ttl_seconds: null, approvers: 'user' },
      ]);
      await expect(
        db.ds.query(
          `INSERT INTO policies (tenant, name, effect, agents, integrations, approvers) VALUES ('acme', 'x', 'allow', '{*}', '{*}', 'admins')`,
        ),
      ).rejects.toThrow(/check constraint/);
      await db.ds.query(
        `INSERT INTO approvals (id, tenant, auth_req_hash, agent, subject, scopes, ttl_seconds, interval_seconds, expires_at)
         VALUES (gen_random_uuid(), 'acme', '\\x00', 'mcp-1', 'alice', '{connections:openai}', 600, 5, now())`,
      );
      await expect(db.ds.query(`UPDATE approvals SET status = 'maybe'`)).rejects.toThrow(/check constraint/);
      const [{ indexdef }] = await db.ds.query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_events_approval'`);
      expect(indexdef).toContain(`(details ->> 'approval'::text)`);
    } finally {
      await q.release();
    }
  });
});
