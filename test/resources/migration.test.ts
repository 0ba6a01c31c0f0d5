import { migrations } from '../../migrations';
import { Resources1763800002300 } from '../../migrations/1763800002300-Resources';
import { migrationDatabase, stampOf } from '../support/migrations';

/** STYLE.md 8: migration 2300 applies over the previous schema with data, keeps identifiers unique per tenant, and goes down and up. */
describe('migration 1763800002300-Resources', () => {
  const db = migrationDatabase(Resources1763800002300);

  it('applies over the previous schema with data; one identifier per tenant; down and up', async () => {
    const q = db().ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      await q.query(`SET search_path TO vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800002300)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme'), ('t2')`);
      await q.query(`INSERT INTO policies (tenant, name, effect, agents, integrations) VALUES ('acme', 'p', 'allow', '{*}', '{*}')`);
      const m = new Resources1763800002300();
      await m.up(q);
      const put = (tenant: string, name: string, ttl = 300) =>
        q.query(
          `INSERT INTO resources (tenant, name, identifier, display_name, scopes, token_ttl_seconds, agents)
           VALUES ($1, $2, 'https://crm.example.com', 'CRM', '{}', $3, '{}')`,
          [tenant, name, ttl],
        );
      await put('acme', 'crm');
      await put('t2', 'crm'); // another tenant may use the same identifier
      await expect(put('acme', 'crm2')).rejects.toThrow(); // not twice in one tenant
      await expect(put('nobody', 'crm')).rejects.toThrow(); // a tenant that exists
      await expect(put('t2', 'zero', 0)).rejects.toThrow();
      expect(await q.query(`SELECT count(*)::int AS n FROM policies`)).toEqual([{ n: 1 }]);
      await m.down(q);
      expect(await q.query(`SELECT to_regclass('resources') AS t`)).toEqual([{ t: null }]);
      await m.up(q);
    } finally {
      await q.release();
    }
  });
});
