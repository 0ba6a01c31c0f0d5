import { Client } from 'pg';
import { PolicyNotify1763800000700 } from '../../migrations/1763800000700-PolicyNotify';
import { createTestDatabase, TestDatabase } from '../support/database';

/** STYLE.md 8: migration 700 goes down and up again over a schema with data, and then notifies. */
describe('migration 1763800000700-PolicyNotify', () => {
  let db: TestDatabase;
  let listener: Client;
  const heard: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    listener = new Client({ connectionString: db.url });
    await listener.connect();
    listener.on('notification', (n) => heard.push(`${n.channel}:${n.payload}`));
    await listener.query('LISTEN vault_policy_changed');
  });
  afterAll(async () => {
    await listener?.end();
    await db?.drop();
  });

  it('notifies the tenant of every agent, policy and integration write; not after down; again after up', async () => {
    await db.ds.query(`INSERT INTO tenants (id) VALUES ('acme'), ('beta')`);
    await db.ds.query(`INSERT INTO agents (tenant, client_id, name, auth_method) VALUES ('acme', 'mcp-1', 'MCP', 'none')`);
    await db.ds.query(`INSERT INTO policies (tenant, name, effect, agents, integrations) VALUES ('beta', 'p', 'allow', '{*}', '{*}')`);
    await until(() => heard.length === 2);
    expect(heard).toEqual(['vault_policy_changed:acme', 'vault_policy_changed:beta']);

    const q = db.ds.createQueryRunner();
    try {
      const migration = new PolicyNotify1763800000700();
      await migration.down(q);
      await db.ds.query(`UPDATE policies SET effect = 'deny' WHERE tenant = 'beta'`);
      await migration.up(q);
      await db.ds.query(
        `INSERT INTO integrations (tenant, name, id, provider, level) VALUES ('acme', 'openai', gen_random_uuid(), 'api_key', 'user')`,
      );
      await db.ds.query(`TRUNCATE policies`);
      await until(() => heard.length === 4);
      expect(heard.slice(2)).toEqual(['vault_policy_changed:acme', 'vault_policy_changed:*']);
      expect(await db.ds.query(`SELECT effect FROM policies`)).toEqual([]);
    } finally {
      await q.release();
    }
  });
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
