import { migrations } from '../../migrations';
import { PolicyRequireDpop1763800002600 } from '../../migrations/1763800002600-PolicyRequireDpop';
import { migrationDatabase, stampOf } from '../support/migrations';

/** STYLE.md 8: migration 2600 applies over the previous schema with data (existing policies require no DPoP), and goes down and up. */
describe('migration 1763800002600-PolicyRequireDpop', () => {
  const db = migrationDatabase(PolicyRequireDpop1763800002600);

  it('applies over the previous schema with data; existing policies read require_dpop false; down and up', async () => {
    const q = db().ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      await q.query(`SET search_path TO vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800002600)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(`INSERT INTO policies (tenant, name, effect, agents, integrations) VALUES ('acme', 'p', 'allow', '{*}', '{*}')`);
      const m = new PolicyRequireDpop1763800002600();
      await m.up(q);
      expect(await q.query(`SELECT name, require_dpop FROM policies`)).toEqual([{ name: 'p', require_dpop: false }]);
      await expect(q.query(`UPDATE policies SET require_dpop = NULL`)).rejects.toThrow();
      await m.down(q);
      expect(await q.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'require_dpop'`)).toEqual([
        { n: 0 },
      ]);
      await m.up(q);
    } finally {
      await q.release();
    }
  });
});
