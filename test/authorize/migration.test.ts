import { migrations } from '../../migrations';
import { AuthorizationServer1763800002301 } from '../../migrations/1763800002301-AuthorizationServer';
import { migrationDatabase, stampOf } from '../support/migrations';

/** STYLE.md 8: migration 2301 applies over the previous schema with data, and goes down and up again. */
describe('migration 1763800002301-AuthorizationServer', () => {
  const db = migrationDatabase(AuthorizationServer1763800002301);

  it('applies over the previous schema with data; consents and clients belong to a tenant; down and up', async () => {
    const q = db().ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      await q.query(`SET search_path TO vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800002301)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(
        `INSERT INTO resources (tenant, name, identifier, display_name, scopes, token_ttl_seconds, agents) VALUES ('acme', 'crm', 'https://crm.example.com', 'CRM', '{}', 300, '{}')`,
      );
      const m = new AuthorizationServer1763800002301();
      await m.up(q);
      await q.query(
        `INSERT INTO oauth_clients (tenant, client_id, client_name, redirect_uris) VALUES ('acme', 'dcr_1', 'C', '{https://a.example/cb}')`,
      );
      await expect(
        q.query(`INSERT INTO oauth_clients (tenant, client_id, client_name, redirect_uris) VALUES ('nobody', 'dcr_1', 'C', '{}')`),
      ).rejects.toThrow();
      await q.query(
        `INSERT INTO oauth_consents (tenant, subject, client_id, resource, client_name, scopes) VALUES ('acme', 'alice', 'dcr_1', 'https://crm.example.com', 'C', '{crm:read}')`,
      );
      await expect(
        q.query(
          `INSERT INTO oauth_consents (tenant, subject, client_id, resource, client_name, scopes) VALUES ('acme', 'alice', 'dcr_1', 'https://crm.example.com', 'C', '{}')`,
        ),
      ).rejects.toThrow(); // one consent per (user, client, resource)
      expect(await q.query(`SELECT count(*)::int AS n FROM resources`)).toEqual([{ n: 1 }]);
      await m.down(q);
      expect(await q.query(`SELECT to_regclass('oauth_clients') AS c, to_regclass('oauth_consents') AS k`)).toEqual([{ c: null, k: null }]);
      await m.up(q);
    } finally {
      await q.release();
    }
  });
});
