import { migrations } from '../../migrations';
import { DerivedTokens1763800001000 } from '../../migrations/1763800001000-DerivedTokens';
import { migrationDatabase, stampOf } from '../support/migrations';

/**
 * STYLE.md 8: migration 1000 (downscoped tokens, issue 14) applies on the previous schema with data, guards
 * key versions, cascades, goes down and up again.
 */
describe('migration 1763800001000-DerivedTokens', () => {
  const db = migrationDatabase(DerivedTokens1763800001000);

  it(
    'applies over the previous schema with data; one row per (connection, scope set); retired key versions refused; ' +
      'deleted with the connection',
    async () => {
      const q = db().ds.createQueryRunner();
      try {
        await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
        for (const M of migrations.filter((m) => stampOf(m) < 1763800001000)) await new M().up(q);
        await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
        await q.query(
          `INSERT INTO integrations (tenant, name, id, provider, level, config) VALUES ('acme', 'gcal', ` +
            `gen_random_uuid(), 'google', 'user', '{}')`,
        );
        const [{ id: conn }] = await q.query(
          `INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, ` +
            `dek_wrapped, refresh_token_ct) VALUES (gen_random_uuid(), 'acme', 'gcal', 'alice', 'oauth2', 1, ` +
            `'\\x00', '\\x01') RETURNING id`,
        );

        const m = new DerivedTokens1763800001000();
        await m.up(q);
        const derived = (key: string, version = 1) =>
          q.query(
            `INSERT INTO derived_tokens (id, tenant, connection_id, scope_key, scopes, source_digest, tk_version, ` +
              `dek_wrapped, access_token_ct) VALUES (gen_random_uuid(), 'acme', $1, $2, $3, sha256('\\x01'), $4, ` +
              `'\\x00', '\\x00')`,
            [conn, key, key.split(' '), version],
          );
        await derived('calendar.read');
        await derived('calendar.read openid');
        await expect(derived('calendar.read')).rejects.toThrow();
        await q.query(`UPDATE tenants SET min_key_version = 2 WHERE id = 'acme'`);
        await expect(derived('email', 1)).rejects.toMatchObject({ code: 'VK001' });
        await derived('email', 2);
        await q.query(`DELETE FROM connections WHERE id = $1`, [conn]);
        expect(await q.query(`SELECT count(*)::int AS n FROM derived_tokens`)).toEqual([{ n: 0 }]);

        await m.down(q);
        expect(await q.query(`SELECT to_regclass('derived_tokens') AS d`)).toEqual([{ d: null }]);
        await m.up(q);
        for (const M of migrations.filter((x) => stampOf(x) > 1763800001000)) await new M().up(q);
      } finally {
        await q.release();
      }
    },
  );
});
