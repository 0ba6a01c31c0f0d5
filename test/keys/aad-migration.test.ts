import { AadScheme1763800000900 } from '../../migrations/1763800000900-AadScheme';
import { createTestDatabase, TestDatabase } from '../support/database';

/**
 * STYLE.md 8: migration 900 over a schema with data, down and up again. Tenants that existed before
 * it stay on AAD scheme 1 (their rows are scheme 1 until the re-seal job ran), tenants created
 * after start on 2, the floor never goes down, and `aad_reseal` jobs are accepted.
 */
describe('migration 1763800000900-AadScheme', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  it('existing tenants on scheme 1, new ones on 2; the floor only rises; down and up again over data', async () => {
    const q = db.ds.createQueryRunner();
    const migration = new AadScheme1763800000900();
    try {
      await migration.down(q);
      await db.ds.query(`INSERT INTO tenants (id) VALUES ('before')`);
      await expect(
        db.ds.query(`INSERT INTO key_jobs (id, kind, requested_by) VALUES (gen_random_uuid(), 'aad_reseal', 't')`),
      ).rejects.toThrow();
      await migration.up(q);
      await db.ds.query(`INSERT INTO tenants (id) VALUES ('after')`);
      expect(await db.ds.query(`SELECT id, aad_scheme FROM tenants WHERE id IN ('before', 'after') ORDER BY id`)).toEqual([
        { id: 'after', aad_scheme: 2 },
        { id: 'before', aad_scheme: 1 },
      ]);
      await db.ds.query(`UPDATE tenants SET aad_scheme = 2, aad_scheme_raised_at = now() WHERE id = 'before'`);
      await expect(db.ds.query(`UPDATE tenants SET aad_scheme = 1 WHERE id = 'before'`)).rejects.toMatchObject({
        driverError: expect.objectContaining({ code: 'VK002' }),
      });
      await expect(db.ds.query(`UPDATE tenants SET aad_scheme = 3 WHERE id = 'before'`)).rejects.toThrow();
      await db.ds.query(`INSERT INTO key_jobs (id, kind, requested_by) VALUES (gen_random_uuid(), 'aad_reseal', 't')`);
    } finally {
      await q.release();
    }
  });
});
