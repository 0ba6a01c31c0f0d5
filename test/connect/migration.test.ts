import { migrations } from '../../migrations';
import { Connect1763800000300 } from '../../migrations/1763800000300-Connect';
import { ConnectHardening1763800000400 } from '../../migrations/1763800000400-ConnectHardening';
import { migrationDatabase, stampOf } from '../support/migrations';

/** STYLE.md 8: the connect migrations apply on an empty database and on the previous schema with data, and revert. */
describe('migrations 1763800000300-Connect and 1763800000400-ConnectHardening', () => {
  const db = migrationDatabase(Connect1763800000300, ConnectHardening1763800000400);

  it(
    'applies over the previous schema with integrations and connections in it, cascades with its integration, and goes ' +
      'down and up again',
    async () => {
      const q = db().ds.createQueryRunner();
      try {
        await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
        for (const M of migrations.filter((m) => stampOf(m) < 1763800000300)) await new M().up(q);
        await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
        await q.query(
          `INSERT INTO integrations (tenant, name, id, provider, level, config) VALUES ('acme', 'gcal', ` +
            `gen_random_uuid(), 'google', 'user', '{}')`,
        );
        await q.query(`INSERT INTO tenant_keys (tenant, version, kek_key_id, wrapped, status) VALUES ('acme', 1, 'k', '\\x00', 'active')`);
        await q.query(
          `INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped) VALUES ` +
            `(gen_random_uuid(), 'acme', 'gcal', 'alice', 'oauth2', 1, '\\x00')`,
        );

        const m = new Connect1763800000300();
        await m.up(q);
        const insert = (hash: string) =>
          q.query(
            `INSERT INTO connect_sessions (id, tenant, integration, subject, created_by, url_hash, expires_at) ` +
              `VALUES (gen_random_uuid(), 'acme', 'gcal', 'alice', 'admin:x', $1, now() + interval '10 minutes')`,
            [Buffer.from(hash)],
          );
        await insert('a');
        await expect(insert('a')).rejects.toThrow(); // one URL, one session
        await expect(
          q.query(
            `INSERT INTO connect_sessions (id, tenant, integration, subject, created_by, url_hash, ` +
              `expires_at) VALUES (gen_random_uuid(), 'acme', 'gcal', '', 'x', '\\x01', now())`,
          ),
        ).rejects.toThrow();
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
    },
  );

  it('hardening applies over sessions mid-flow: no session may then name a retired key version; it goes down and up again', async () => {
    const q = db().ds.createQueryRunner();
    try {
      // The schema of the test above (everything up to 300), with data in it.
      await q.query(
        `INSERT INTO integrations (tenant, name, id, provider, level, config) VALUES ('acme', 'cal', ` +
          `gen_random_uuid(), 'google', 'user', '{}')`,
      );
      await q.query(`UPDATE tenants SET min_key_version = 2 WHERE id = 'acme'`);
      const session = (tk: number | null, hash: string) =>
        q.query(
          `INSERT INTO connect_sessions (id, tenant, integration, subject, created_by, url_hash, expires_at, status, tk_version,
            dek_wrapped, code_verifier_ct)
           VALUES (gen_random_uuid(), 'acme', 'cal', 'bob', 'admin:x', $2, now() + interval '10 minutes',
             'authorizing', $1, '\\x00', '\\x00')
           RETURNING id`,
          [tk, Buffer.from(hash)],
        );
      const [{ id: old }] = await session(1, 'old'); // allowed before the trigger exists

      const m = new ConnectHardening1763800000400();
      await m.up(q);
      await expect(session(1, 'new')).rejects.toMatchObject({ driverError: expect.objectContaining({ code: 'VK001' }) });
      await session(2, 'ok');
      await session(null, 'pending');
      await expect(q.query(`UPDATE connect_sessions SET tk_version = 1 WHERE url_hash = $1`, [Buffer.from('ok')])).rejects.toMatchObject({
        driverError: expect.objectContaining({ code: 'VK001' }),
      });
      await q.query(`UPDATE connect_sessions SET tk_version = 3 WHERE id = $1`, [old]); // a rewrap moves rows up
      // a flow ends
      await q.query(`UPDATE connect_sessions SET tk_version = NULL, dek_wrapped = NULL, code_verifier_ct = NULL WHERE id = $1`, [old]);
      const plan = await q.query(
        `SELECT indexdef FROM pg_indexes WHERE tablename = 'connect_sessions' AND indexname = 'connect_sessions_tk_version'`,
      );
      expect(plan[0].indexdef).toContain('(tenant, tk_version, id) WHERE (tk_version IS NOT NULL)');

      await m.down(q);
      await session(1, 'after-down'); // the guard went with it
      await m.up(q);
      expect(await q.query(`SELECT count(*)::int AS n FROM connect_sessions WHERE subject = 'bob'`)).toEqual([{ n: 4 }]);
      // Everything after 400 applies on top (the list's order).
      for (const M of migrations.filter((x) => stampOf(x) > 1763800000400)) await new M().up(q);
    } finally {
      await q.release();
    }
  });
});
