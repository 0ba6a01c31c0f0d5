import { PgNotifications } from '../../libs/db';
import { asTenantId } from '../../libs/kernel';
import { AgentStore, PolicyDecisionPoint, PolicyStore } from '../../libs/policy';
import { PolicyChangeFeed } from '../../libs/policy/policy-change.feed';
import { PolicySnapshots } from '../../libs/policy/policy-snapshots';
import { createTestDatabase, TestDatabase } from '../support/database';

/**
 * The release path reads agents and policies from per-tenant snapshots (issue 7). These tests
 * show that a snapshot is really kept (a change made with the notify trigger switched off is
 * not seen), and that every change otherwise reaches it: writes through the stores at once,
 * writes by any other connection through LISTEN/NOTIFY (migration 700), and that nothing is
 * cached while the LISTEN connection is down.
 */
describe('policy snapshots', () => {
  const T = asTenantId('acme');
  let db: TestDatabase;
  let notifications: PgNotifications;
  let feed: PolicyChangeFeed;
  let policies: PolicyStore;
  let agents: AgentStore;
  let decisions: PolicyDecisionPoint;

  beforeAll(async () => {
    db = await createTestDatabase();
    notifications = new PgNotifications(db.ds);
    feed = new PolicyChangeFeed(notifications);
    const snapshots = new PolicySnapshots(db.ds, feed);
    policies = new PolicyStore(db.ds, snapshots);
    agents = new AgentStore(db.ds, snapshots);
    decisions = new PolicyDecisionPoint(snapshots);
    await agents.put(T, { client_id: 'mcp-1', name: 'MCP', auth_method: 'none' });
    await policies.put(T, { name: 'p', effect: 'allow', agents: ['mcp-1'], integrations: ['openai'], scopes: [], users: {} });
    await until(() => feed.live());
  });
  afterAll(async () => {
    await notifications?.close();
    await db?.drop();
  });

  const names = async (integration = 'openai') =>
    (await decisions.decide(T, { agent: 'mcp-1', integration, subject: 'alice', claims: {} })).inputs.matched.map((m) => m.policy);
  const sqlWithoutNotify = async (sql: string) => {
    await db.ds.query(`ALTER TABLE policies DISABLE TRIGGER policies_changed`);
    try {
      await db.ds.query(sql);
    } finally {
      await db.ds.query(`ALTER TABLE policies ENABLE TRIGGER policies_changed`);
    }
  };

  it('serves from the snapshot: a change that notifies nobody is not seen', async () => {
    expect(await names()).toEqual(['p']);
    await sqlWithoutNotify(`UPDATE policies SET integrations = '{github}' WHERE tenant = 'acme' AND name = 'p'`);
    expect(await names()).toEqual(['p']);
    // Put it back through the store: seen at once, in this process.
    await policies.put(T, { name: 'p', effect: 'allow', agents: ['mcp-1'], integrations: ['openai'], scopes: [], users: {} });
    expect(await names()).toEqual(['p']);
    await policies.put(T, { name: 'p', effect: 'allow', agents: ['mcp-1'], integrations: ['github'], scopes: [], users: {} });
    expect(await names()).toEqual([]);
    expect(await names('github')).toEqual(['p']);
  });

  it('drops the snapshot when another connection changes policies, agents or integrations', async () => {
    await policies.put(T, { name: 'p', effect: 'allow', agents: ['mcp-1'], integrations: ['openai'], scopes: [], users: {} });
    expect(await names()).toEqual(['p']);
    // Another process (here: plain SQL on another pooled connection) adds a deny.
    await db.ds.query(
      `INSERT INTO policies (tenant, name, effect, agents, integrations) VALUES ('acme', 'deny-all', 'deny', '{*}', '{*}')`,
    );
    await until(async () => (await names()).includes('deny-all'));
    expect(await agents.exists(T, 'mcp-1')).toBe(true);
    await db.ds.query(`DELETE FROM agents WHERE tenant = 'acme' AND client_id = 'mcp-1'`);
    await until(async () => !(await agents.exists(T, 'mcp-1')));
    await db.ds.query(`DELETE FROM policies WHERE tenant = 'acme' AND name = 'deny-all'`);
    await until(async () => !(await names()).includes('deny-all'));
  });

  it('knows integration levels from the snapshot; one registered a moment ago is read at once', async () => {
    expect(await policies.integrationLevel(T, 'openai')).toBeUndefined();
    // No notification can have arrived yet for a row inserted with the trigger off: the miss reads again.
    await db.ds.query(`ALTER TABLE integrations DISABLE TRIGGER integrations_changed`);
    try {
      await db.ds.query(
        `INSERT INTO integrations (tenant, name, id, provider, level) VALUES ('acme', 'openai', gen_random_uuid(), 'api_key', 'user')`,
      );
    } finally {
      await db.ds.query(`ALTER TABLE integrations ENABLE TRIGGER integrations_changed`);
    }
    expect(await policies.integrationLevel(T, 'openai')).toBe('user');
    await db.ds.query(`UPDATE integrations SET level = 'tenant' WHERE tenant = 'acme' AND name = 'openai'`);
    await until(async () => (await policies.integrationLevel(T, 'openai')) === 'tenant');
  });

  it('caches nothing while the LISTEN connection is down, and caches again once it is back', async () => {
    await policies.put(T, { name: 'p', effect: 'allow', agents: ['mcp-1'], integrations: ['openai'], scopes: [], users: {} });
    expect(await names()).toEqual(['p']);
    const [{ n }] = await db.ds.query(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = current_database() AND query = ` +
        `'LISTEN vault_policy_changed'`,
    );
    expect(Number(n)).toBe(1);
    await until(() => !feed.live());
    // Unnotified, yet seen: with the feed down every read goes to the database.
    await sqlWithoutNotify(`UPDATE policies SET integrations = '{github}' WHERE tenant = 'acme' AND name = 'p'`);
    expect(await names()).toEqual([]);
    await until(() => feed.live(), 10_000);
    expect(await names('github')).toEqual(['p']);
    await sqlWithoutNotify(`UPDATE policies SET integrations = '{openai}' WHERE tenant = 'acme' AND name = 'p'`);
    expect(await names('github')).toEqual(['p']); // cached again
  });
});

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
