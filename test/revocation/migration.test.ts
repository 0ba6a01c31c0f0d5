import { Client } from 'pg';
import { migrations } from '../../migrations';
import { TokenRevocation1763800002200 } from '../../migrations/1763800002200-TokenRevocation';
import { PgNotifications } from '../../libs/db';
import { asTenantId } from '../../libs/kernel';
import { AgentStore, PolicyChangeFeed } from '../../libs/policy';
import { PolicySnapshots } from '../../libs/policy/policy-snapshots';
import { createTestDatabase, TestDatabase } from '../support/database';

const stampOf = (m: (typeof migrations)[number]) => Number(/(\d{13})$/.exec(new m().name)![1]);

/** STYLE.md 8: migration 2200 applies over the previous schema with agents in it, notifies revocations with the row, and goes down and up. */
describe('migration 1763800002200-TokenRevocation', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db?.drop());

  it('is registered, in timestamp order', () => {
    const stamps = migrations.map(stampOf);
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
    expect(migrations).toContain(TokenRevocation1763800002200);
  });

  it('applies over the previous schema with data; existing agents are not DPoP-bound; writes notify; down and up', async () => {
    const q = db.ds.createQueryRunner();
    const listener = new Client({ connectionString: db.url });
    const heard: string[] = [];
    const notifications = new PgNotifications(db.ds);
    const feed = new PolicyChangeFeed(notifications);
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800002200)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(`INSERT INTO agents (tenant, client_id, name, auth_method) VALUES ('acme', 'mcp-1', 'MCP', 'none')`);

      const m = new TokenRevocation1763800002200();
      await m.up(q);
      const agents = new AgentStore(db.ds, new PolicySnapshots(db.ds, feed));
      expect(await agents.find(asTenantId('acme'), 'mcp-1')).toMatchObject({ client_id: 'mcp-1', dpop_bound: false });
      await agents.put(asTenantId('acme'), { client_id: 'mcp-1', name: 'MCP', dpop_bound: true });
      expect(await agents.find(asTenantId('acme'), 'mcp-1')).toMatchObject({ dpop_bound: true });
      // A rename without dpop_bound keeps it.
      await agents.put(asTenantId('acme'), { client_id: 'mcp-1', name: 'MCP renamed' });
      expect(await agents.find(asTenantId('acme'), 'mcp-1')).toMatchObject({ name: 'MCP renamed', dpop_bound: true });

      await listener.connect();
      listener.on('notification', (n) => heard.push(n.payload ?? ''));
      await listener.query('LISTEN vault_tokens_revoked');
      await q.query(`SET search_path TO vault`);
      await q.query(`INSERT INTO token_revocations (tenant, jti, expires_at) VALUES ('acme', 'j-1', to_timestamp(2000000000))`);
      await q.query(
        `INSERT INTO token_cutoffs (tenant, kind, name, cutoff) VALUES ('acme', 'subject', 'alice', to_timestamp(1900000000.5))`,
      );
      await expect(
        q.query(`INSERT INTO token_cutoffs (tenant, kind, name, cutoff) VALUES ('acme', 'group', 'x', now())`),
      ).rejects.toThrow();
      for (let i = 0; i < 50 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(heard.map((h) => JSON.parse(h))).toEqual([
        { k: 'jti', t: 'acme', n: 'j-1', at: 2000000000 },
        { k: 'subject', t: 'acme', n: 'alice', at: 1900000000 },
      ]);

      await m.down(q);
      expect(
        await q.query(
          `SELECT to_regclass('token_revocations') AS r, to_regclass('token_cutoffs') AS c, to_regclass('dpop_proof_jtis') AS d`,
        ),
      ).toEqual([{ r: null, c: null, d: null }]);
      await m.up(q);
      expect(await agents.find(asTenantId('acme'), 'mcp-1')).toMatchObject({ name: 'MCP renamed', dpop_bound: false });
    } finally {
      await listener.end();
      await notifications.close();
      await q.release();
    }
  });
});
