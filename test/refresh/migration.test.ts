import { migrations } from '../../migrations';
import { RefreshCallStart1763800001200 } from '../../migrations/1763800001200-RefreshCallStart';
import { TokenIssuedAt1763800001201 } from '../../migrations/1763800001201-TokenIssuedAt';
import { createTestDatabase } from '../support/database';
import { migrationDatabase, stampOf } from '../support/migrations';

/**
 * STYLE.md 8: migrations 1200 and 1201 (issue 15) apply on an empty database and over the previous schema
 * with data, and go down and up again.
 */
describe('migrations 1763800001200-RefreshCallStart and 1763800001201-TokenIssuedAt', () => {
  const db = migrationDatabase(RefreshCallStart1763800001200, TokenIssuedAt1763800001201);

  it('apply over the previous schema with data (existing rows: no outstanding call, issue time unknown); down and up again', async () => {
    const q = db().ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800001200)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(
        `INSERT INTO integrations (tenant, name, id, provider, level, config) VALUES ('acme', 'gcal', ` +
          `gen_random_uuid(), 'google', 'user', '{}')`,
      );
      await q.query(
        `INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped, ` +
          `lease_owner, lease_expires_at) VALUES (gen_random_uuid(), 'acme', 'gcal', 'alice', 'oauth2', 1, ` +
          `'\\x00', 'w:1:x', now())`,
      );

      const callStart = new RefreshCallStart1763800001200();
      const issued = new TokenIssuedAt1763800001201();
      await callStart.up(q);
      await issued.up(q);
      // A lease taken before the upgrade is a claim, not a call: a successor refreshes the row normally.
      expect(await q.query(`SELECT lease_owner, refresh_call_started_at, token_issued_at FROM connections`)).toEqual([
        { lease_owner: 'w:1:x', refresh_call_started_at: null, token_issued_at: null },
      ]);
      await q.query(`UPDATE connections SET refresh_call_started_at = now(), token_issued_at = now()`);

      await issued.down(q);
      await callStart.down(q);
      const cols = async () =>
        (
          await q.query(
            `SELECT column_name FROM information_schema.columns WHERE table_name = ` +
              `'connections' AND column_name IN ('refresh_call_started_at', 'token_issued_at')`,
          )
        ).length;
      expect(await cols()).toBe(0);
      await callStart.up(q);
      await issued.up(q);
      expect(await cols()).toBe(2);
      expect(await q.query(`SELECT count(*)::int AS n FROM connections`)).toEqual([{ n: 1 }]);
      for (const M of migrations.filter((x) => stampOf(x) > 1763800001201)) await new M().up(q);
    } finally {
      await q.release();
    }
  });

  it('apply on an empty database (the whole list)', async () => {
    const fresh = await createTestDatabase({ migrate: true });
    try {
      const [r] = await fresh.ds.query(
        `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = ` +
          `'vault' AND table_name = 'connections' AND column_name IN ('refresh_call_started_at', ` +
          `'token_issued_at')`,
      );
      expect(r.n).toBe(2);
    } finally {
      await fresh.drop();
    }
  });
});
