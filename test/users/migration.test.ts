import { Client } from 'pg';
import { migrations } from '../../migrations';
import { PolicyNotify1763800000700 } from '../../migrations/1763800000700-PolicyNotify';
import { UserLogin1763800001600 } from '../../migrations/1763800001600-UserLogin';
import { migrationDatabase, stampOf } from '../support/migrations';

/** STYLE.md 8: migration 1600 applies over the previous schema with data, guards key versions, notifies, and goes down and up again. */
describe('migration 1763800001600-UserLogin', () => {
  const db = migrationDatabase(UserLogin1763800001600);

  it('applies over the previous schema with data; one login per tenant; no retired key version; switches notify; down and up', async () => {
    const q = db().ds.createQueryRunner();
    const listener = new Client({ connectionString: db().url });
    const heard: string[] = [];
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800001600)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme'), ('t2')`);
      await q.query(`INSERT INTO policies (tenant, name, effect, agents, integrations) VALUES ('acme', 'p', 'allow', '{*}', '{*}')`);

      const m = new UserLogin1763800001600();
      await m.up(q);
      const login = (tenant: string, version: number) =>
        q.query(
          `INSERT INTO user_logins (tenant, id, issuer, client_id, scopes, subject_claim, tk_version, dek_wrapped, client_secret_ct) VALUES ($1, gen_random_uuid(), 'https://idp.example', 'c', '{openid}', 'sub', $2, '\\x00', '\\x00')`,
          [tenant, version],
        );
      await login('acme', 1);
      await expect(login('acme', 1)).rejects.toThrow(); // one per tenant
      await expect(login('nobody', 1)).rejects.toThrow(); // a tenant that exists
      await q.query(`UPDATE tenants SET min_key_version = 2 WHERE id = 't2'`);
      await expect(login('t2', 1)).rejects.toMatchObject({ code: 'VK001' });

      await listener.connect();
      listener.on('notification', (n) => heard.push(`${n.channel}:${n.payload}`));
      await listener.query('LISTEN vault_policy_changed');
      await q.query(`SET search_path TO vault`);
      await q.query(`INSERT INTO user_agent_denies (tenant, subject, integration, agent) VALUES ('acme', 'alice', 'openai', 'mcp-1')`);
      for (let i = 0; i < 50 && !heard.length; i++) await new Promise((r) => setTimeout(r, 20));
      expect(heard).toEqual(['vault_policy_changed:acme']);

      await m.down(q);
      expect(await q.query(`SELECT to_regclass('user_logins') AS t, to_regclass('user_agent_denies') AS d`)).toEqual([
        { t: null, d: null },
      ]);
      // Migration 700's down no longer depends on this one.
      await new PolicyNotify1763800000700().down(q);
      await new PolicyNotify1763800000700().up(q);
      await m.up(q);
      expect(await q.query(`SELECT count(*)::int AS n FROM policies`)).toEqual([{ n: 1 }]);
    } finally {
      await listener.end().catch(() => undefined);
      await q.release();
    }
  });
});
