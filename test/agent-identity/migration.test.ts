import { PgNotifications } from '../../libs/db';
import { asTenantId } from '../../libs/kernel';
import { AgentStore, PolicyChangeFeed } from '../../libs/policy';
import { PolicySnapshots } from '../../libs/policy/policy-snapshots';
import { migrations } from '../../migrations';
import { AgentIdentity1763800002100 } from '../../migrations/1763800002100-AgentIdentity';
import { createTestDatabase, TestDatabase } from '../support/database';

/** STYLE.md 8: the agent-identity migration applies on the previous schema with agents in it, and reverts. */
describe('migration 1763800002100-AgentIdentity', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db?.drop());

  it('keeps existing agents (no credentials, no extra audiences, enabled), serves the lookup, and goes down and up again', async () => {
    const q = db.ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      const index = migrations.indexOf(AgentIdentity1763800002100);
      expect(index).toBeGreaterThan(0);
      for (const M of migrations.slice(0, index)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(`INSERT INTO agents (tenant, client_id, name, auth_method) VALUES ('acme', 'mcp-1', 'MCP', 'none')`);

      const migration = new AgentIdentity1763800002100();
      await migration.up(q);
      // The store is today's code: it also reads columns of later migrations (2200: dpop_bound).
      const later = migrations.slice(index + 1).map((M) => new M());
      for (const m of later) await m.up(q);
      const agents = new AgentStore(db.ds, new PolicySnapshots(db.ds, new PolicyChangeFeed(new PgNotifications(db.ds))));
      const tenant = asTenantId('acme');
      expect(await agents.find(tenant, 'mcp-1')).toMatchObject({
        client_id: 'mcp-1',
        federated_credentials: [],
        accepted_audiences: [],
        disabled: false,
      });
      const credential = { issuer: 'https://issuer.example', subject: 'wl-1', audiences: [], claims: {} };
      await agents.put(tenant, { client_id: 'mcp-1', name: 'MCP', federated_credentials: [credential] });
      expect((await agents.findByFederatedSubject(tenant, 'https://issuer.example', 'wl-1')).map((a) => a.client_id)).toEqual(['mcp-1']);
      expect(await agents.findByFederatedSubject(tenant, 'https://issuer.example', 'wl-2')).toEqual([]);

      for (const m of [...later].reverse()) await m.down(q);
      await migration.down(q);
      const [cols] = await q.query(
        `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'agents' AND column_name = 'disabled'`,
      );
      expect(cols.n).toBe(0);
      await migration.up(q);
      for (const m of later) await m.up(q);
      expect(await agents.find(tenant, 'mcp-1')).toMatchObject({ federated_credentials: [], disabled: false });
    } finally {
      await q.release();
    }
  });
});
