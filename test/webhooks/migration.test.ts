import { migrations } from '../../migrations';
import { Webhooks1763800000600 } from '../../migrations/1763800000600-Webhooks';
import { migrationDatabase, stampOf } from '../support/migrations';

/** STYLE.md 8: migration 600 applies on the previous schema with data, guards key versions, and goes down and up again. */
describe('migration 1763800000600-Webhooks', () => {
  const db = migrationDatabase(Webhooks1763800000600);

  it('applies over the previous schema with data; no endpoint may name a retired key version; down and up again', async () => {
    const q = db().ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800000600)) await new M().up(q);
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(
        `INSERT INTO integrations (tenant, name, id, provider, level, config) VALUES ('acme', 'gcal', ` +
          `gen_random_uuid(), 'google', 'user', '{}')`,
      );
      await q.query(
        `INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped) VALUES ` +
          `(gen_random_uuid(), 'acme', 'gcal', 'alice', 'oauth2', 1, '\\x00')`,
      );

      const m = new Webhooks1763800000600();
      await m.up(q);
      const endpoint = (tenant: string, version: number, events = ['*']) =>
        q.query(
          `INSERT INTO webhook_endpoints (tenant, id, url, events, tk_version, dek_wrapped, secret_ct) VALUES ($1, ` +
            `gen_random_uuid(), 'https://h.example/x', $3, $2, '\\x00', '\\x00')`,
          [tenant, version, events],
        );
      await endpoint('acme', 1);
      await expect(endpoint('acme', 1)).rejects.toThrow(); // one per tenant
      await expect(endpoint('nobody', 1)).rejects.toThrow(); // a tenant that exists
      await q.query(`INSERT INTO tenants (id) VALUES ('t2')`);
      await expect(endpoint('t2', 1, [])).rejects.toThrow(); // an empty filter
      await q.query(`UPDATE tenants SET min_key_version = 2 WHERE id = 't2'`);
      await expect(endpoint('t2', 1)).rejects.toMatchObject({ code: 'VK001' });
      await endpoint('t2', 2);

      const event = (status: string, finished: string) =>
        q.query(
          `INSERT INTO webhook_outbox (id, tenant, event_type, payload, status, finished_at) VALUES ` +
            `(gen_random_uuid(), 'acme', 'connection.created', '{}', $1, ${finished})`,
          [status],
        );
      await event('pending', 'NULL');
      await event('delivered', 'now()');
      await expect(event('delivered', 'NULL')).rejects.toThrow();
      await expect(event('pending', 'now()')).rejects.toThrow();
      await expect(event('sent', 'now()')).rejects.toThrow();
      expect(await q.query(`SELECT count(*)::int AS n FROM connections`)).toEqual([{ n: 1 }]);

      await m.down(q);
      expect(await q.query(`SELECT to_regclass('webhook_endpoints') AS e, to_regclass('webhook_outbox') AS o`)).toEqual([
        { e: null, o: null },
      ]);
      await m.up(q);
      expect(await q.query(`SELECT to_regclass('webhook_outbox') AS o`)).toEqual([{ o: 'webhook_outbox' }]);
      for (const M of migrations.filter((x) => stampOf(x) > 1763800000600)) await new M().up(q);
    } finally {
      await q.release();
    }
  });
});
