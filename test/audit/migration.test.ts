import { verifyAuditChain } from '../../libs/audit';
import { migrations } from '../../migrations';
import { AuditAnchors1763800001100 } from '../../migrations/1763800001100-AuditAnchors';
import { AuditRetention1763800001101 } from '../../migrations/1763800001101-AuditRetention';
import { migrationDatabase, stampOf } from '../support/migrations';
import { event, newAuditLog, randomMacKey } from './support';

/** STYLE.md 8: migrations 1100 and 1101 apply over a chain already written, guard it, and go down and up again. */
describe('migration 1763800001100-AuditAnchors', () => {
  const key = randomMacKey();
  const db = migrationDatabase(AuditAnchors1763800001100);

  it('applies over an existing chain, which stays valid and keeps growing; down and up again', async () => {
    const q = db().ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      for (const M of migrations.filter((m) => stampOf(m) < 1763800001100)) await new M().up(q);
      const audit = newAuditLog(db().ds, key);
      for (let i = 1; i <= 5; i++) await audit.record(event('t1', { details: { i } }));

      const m = new AuditAnchors1763800001100();
      await m.up(q);
      expect(await verifyAuditChain(db().ds, key)).toMatchObject({ ok: true, checked: 5 });
      await expect(q.query('UPDATE audit_chain_head SET seq = 2')).rejects.toThrow(/only moves forward/);
      await expect(q.query('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
      for (let i = 6; i <= 8; i++) await audit.record(event('t1', { details: { i } }));
      expect(await verifyAuditChain(db().ds, key)).toMatchObject({ ok: true, checked: 8 });

      await m.down(q);
      expect(await q.query(`SELECT to_regclass('audit_anchors') AS a`)).toEqual([{ a: null }]);
      expect(
        await q.query(
          `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'audit_chain_head%' OR tgname = 'audit_events_no_truncate'`,
        ),
      ).toEqual([{ n: 0 }]);
      await m.up(q);
      await expect(q.query('DELETE FROM audit_chain_head')).rejects.toThrow(/only moves forward/);
      for (const M of migrations.filter((x) => stampOf(x) > 1763800001100)) await new M().up(q);
      await audit.record(event('t1', { details: { i: 9 } }));
      expect(await verifyAuditChain(db().ds, key)).toMatchObject({ ok: true, checked: 9 });

      // 1101 (retention) down: no boundary, and no DELETE gets through whatever the session sets.
      const retention = new AuditRetention1763800001101();
      await retention.down(q);
      await q.startTransaction();
      await q.query(`SELECT set_config('vault.audit_retain_through', '3', true)`);
      await expect(q.query('DELETE FROM audit_events WHERE seq <= 3')).rejects.toThrow(/append-only/);
      await q.rollbackTransaction();
      await retention.up(q);
      expect(await verifyAuditChain(db().ds, key)).toMatchObject({ ok: true, checked: 9 });
    } finally {
      await q.release();
    }
  });
});
