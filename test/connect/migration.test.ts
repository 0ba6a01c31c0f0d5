import { migrations } from '../../migrations';
import { Connect1763800000300 } from '../../migrations/1763800000300-Connect';
import { createTestDatabase, TestDatabase } from '../support/database';

/** STYLE.md 8: the connect migration applies on an empty database and on the previous schema with data, and reverts. */
describe('migration 1763800000300-Connect', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db?.drop());

  it('is registered, and the list stays in timestamp order', () => {
    const stamps = migrations.map((m) => Number(/(\d{13})$/.exec(new m().name)![1]));
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
    expect(migrations.map((m) => new m().name)).toContain('Connect1763800000300');
  });

  it('applies over the previous schema with integrations and connections in it, cascades with its integration, and goes down and up again', async () => {
    const q = db.ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      for (const M of migrations.filter((m) => new m().name !== 'Connect1763800000300')) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(`INSERT INTO integrations (tenant, name, id, provider, level, config) VALUES ('acme', 'gcal', gen_random_uuid(), 'google', 'user', '{}')`);
      await q.query(`INSERT INTO tenant_keys (tenant, version, kek_key_id, wrapped, status) VALUES ('acme', 1, 'k', '\\x00', 'active')`);
      await q.query(`INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped) VALUES (gen_random_uuid(), 'acme', 'gcal', 'alice', 'oauth2', 1, '\\x00')`);

      const m = new Connect1763800000300();
      await m.up(q);
      const insert = (hash: string) =>
        q.query(`INSERT INTO connect_sessions (id, tenant, integration, subject, created_by, url_hash, expires_at) VALUES (gen_random_uuid(), 'acme', 'gcal', 'alice', 'admin:x', $1, now() + interval '10 minutes')`, [Buffer.from(hash)]);
      await insert('a');
      await expect(insert('a')).rejects.toThrow(); // one URL, one session
      await expect(q.query(`INSERT INTO connect_sessions (id, tenant, integration, subject, created_by, url_hash, expires_at) VALUES (gen_random_uuid(), 'acme', 'gcal', '', 'x', '\\x01', now())`)).rejects.toThrow();
      await expect(q.query(`UPDATE connect_sessions SET status = 'bogus'`)).rejects.toThrow();
      expect(await q.query(`SELECT count(*)::int AS n FROM connections`)).toEqual([{ n: 1 }]);

      await q.query(`DELETE FROM connections`);
      await q.query(`DELETE FROM integrations WHERE name = 'gcal'`);
      expect(await q.query(`SELECT count(*)::int AS n FROM connect_sessions`)).toEqual([{ n: 0 }]);

      await m.down(q);
      expect(await q.query(`SELECT to_regclass('connect_sessions') AS t`)).toEqual([{ t: null }]);
      await m.up(q);
      expect(await q.query(`SELECT to_regclass('connect_sessions') AS t`)).toEqual([{ t: 'connect_sessions' }]);
    } finally {
      await q.release();
    }
  });
});
