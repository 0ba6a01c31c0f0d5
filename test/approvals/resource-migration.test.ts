import { migrations } from '../../migrations';
import { ApprovalResource1763800002700 } from '../../migrations/1763800002700-ApprovalResource';
import { migrationDatabase, stampOf } from '../support/migrations';

/** STYLE.md 8: migration 2700 applies over the previous schema with data (existing approvals are for connections), and goes down and up. */
describe('migration 1763800002700-ApprovalResource', () => {
  const db = migrationDatabase(ApprovalResource1763800002700);

  it('applies over the previous schema with data; an existing approval names no resource; down and up', async () => {
    const q = db().ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      await q.query(`SET search_path TO vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800002700)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(
        `INSERT INTO approvals (id, tenant, auth_req_hash, agent, subject, claims, scopes, ttl_seconds, interval_seconds, expires_at)
         VALUES ('00000000-0000-4000-8000-000000000001', 'acme', '\\x01', 'mcp-1', 'alice', '{}', '{connections:openai}', 600, 5, now())`,
      );
      const m = new ApprovalResource1763800002700();
      await m.up(q);
      expect(await q.query(`SELECT subject, scopes, resource FROM approvals`)).toEqual([
        { subject: 'alice', scopes: ['connections:openai'], resource: null },
      ]);
      await m.down(q);
      expect(
        await q.query(
          `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'approvals' AND column_name = 'resource'`,
        ),
      ).toEqual([{ n: 0 }]);
      await m.up(q);
      expect(await q.query(`SELECT resource FROM approvals`)).toEqual([{ resource: null }]);
    } finally {
      await q.release();
    }
  });
});
