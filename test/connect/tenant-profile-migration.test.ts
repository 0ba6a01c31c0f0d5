import { migrations } from '../../migrations';
import { TenantProfile1763800002000 } from '../../migrations/1763800002000-TenantProfile';
import { migrationDatabase, stampOf } from '../support/migrations';

/** STYLE.md 8: migration 2000 applies over the previous schema with data, holds its checks, and goes down and up again. */
describe('migration 1763800002000-TenantProfile', () => {
  const db = migrationDatabase(TenantProfile1763800002000);

  it('applies over existing tenants, connections and sessions (all null); refuses a bad logo or an empty name; down and up', async () => {
    const q = db().ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800002000)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(
        `INSERT INTO integrations (tenant, name, id, provider, level, config)
         VALUES ('acme', 'gcal', gen_random_uuid(), 'google', 'user', '{}')`,
      );
      await q.query(`INSERT INTO tenant_keys (tenant, version, kek_key_id, wrapped, status) VALUES ('acme', 1, 'k', '\\x00', 'active')`);
      await q.query(
        `INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped, provider_account_id)
         VALUES (gen_random_uuid(), 'acme', 'gcal', 'alice', 'oauth2', 1, '\\x00', 'acct-1')`,
      );
      await q.query(
        `INSERT INTO connect_sessions (id, tenant, integration, subject, created_by, url_hash, expires_at)
         VALUES (gen_random_uuid(), 'acme', 'gcal', 'alice', 'admin:x', '\\x01', now() + interval '10 minutes')`,
      );

      const m = new TenantProfile1763800002000();
      await m.up(q);
      expect(await q.query(`SELECT display_name, logo_url, profile_updated_at FROM tenants`)).toEqual([
        { display_name: null, logo_url: null, profile_updated_at: null },
      ]);
      expect(await q.query(`SELECT provider_account_id, provider_account_email FROM connections`)).toEqual([
        { provider_account_id: 'acct-1', provider_account_email: null },
      ]);
      expect(await q.query(`SELECT user_display_name FROM connect_sessions`)).toEqual([{ user_display_name: null }]);

      // The database holds the line even if the service's checks were bypassed.
      for (const logo of ['http://x.example/l.png', 'javascript:alert(1)', `https://x.example/${'a'.repeat(2048)}`])
        await expect(q.query(`UPDATE tenants SET display_name = 'Acme', logo_url = $1`, [logo])).rejects.toThrow();
      await expect(q.query(`UPDATE tenants SET display_name = ''`)).rejects.toThrow();
      await q.query(`UPDATE tenants SET display_name = 'Acme Travel', logo_url = 'https://x.example/l.png'`);

      const added = () =>
        q.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name IN ('display_name', 'logo_url',
          'provider_account_email', 'user_display_name') AND table_schema = current_schema()`);
      expect(await added()).toEqual([{ n: 4 }]);
      await m.down(q);
      expect(await added()).toEqual([{ n: 0 }]);
      await m.up(q);
      expect(await q.query(`SELECT count(*)::int AS n FROM connections`)).toEqual([{ n: 1 }]);
    } finally {
      await q.release();
    }
  });
});
