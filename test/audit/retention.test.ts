import { DataSource } from 'typeorm';
import { AuditAnchor } from '../../libs/audit-anchors';
import { runCli } from '../keys/support';
import { anchoredChains } from './anchored-chains';

/**
 * Retention (migration 1101, `audit retain`): only a whole segment ending at a signed anchor goes, only
 * through the vault (audited as `audit.retention`), and verification then starts from that anchor. The
 * same deletion done behind the vault's back does not verify.
 */
describe('audit retention', () => {
  const chains = anchoredChains('retention');
  const scenario = () => chains.chain();

  const seqs = async (ds: DataSource) =>
    ((await ds.query('SELECT seq::int AS seq FROM audit_events ORDER BY seq')) as { seq: number }[]).map((r) => r.seq);
  const hashOf = async (ds: DataSource, seq: number) =>
    ((await ds.query('SELECT hash FROM audit_events WHERE seq = $1', [seq])) as { hash: Buffer }[])[0].hash;
  const between = (a: AuditAnchor, b: AuditAnchor) => new Date((Date.parse(a.at) + Date.parse(b.at)) / 2).toISOString();

  it('removes the segment up to the newest anchor before --before, audited; the rest still verifies from that anchor', async () => {
    const s = await scenario();
    const r = await runCli(['audit', 'retain', '--anchors', s.file, '--before', between(s.anchors[0], s.anchors[1])], s.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ retained_through: { seq: '3', at: s.anchors[0].at }, deleted: 3 });
    expect(await seqs(s.ds)).toEqual([4, 5, 6, 7, 8]);
    const [record] = (await s.ds.query(`SELECT tenant, action, details FROM audit_events WHERE seq = 8`)) as {
      tenant: string;
      action: string;
      details: Record<string, string>;
    }[];
    expect(record).toMatchObject({
      tenant: '_vault',
      action: 'audit.retention',
      details: { through_seq: '3', through_hash: s.anchors[0].hash },
    });

    const v = await runCli(['audit', 'verify', '--anchors', s.file], s.env);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, checked: 5, retainedThrough: { seq: '3' } });
    expect((await runCli(['audit', 'verify'], s.env)).code).toBe(0);

    // Still append-only outside retention, and retention only ends at an anchored row.
    await expect(s.ds.query('DELETE FROM audit_events WHERE seq = 4')).rejects.toThrow(/append-only/);
    await expect(s.ds.query('SELECT audit_retain_through(5, $1)', [await hashOf(s.ds, 5)])).rejects.toThrow(/anchored row/);
    await expect(s.ds.query('UPDATE audit_retention SET seq = 2')).rejects.toThrow(/only moves forward/);
  });

  it("a segment removed behind the vault's back does not verify: not audited, or not ending at an anchor", async () => {
    const s = await scenario();
    // The function itself, called directly: anchor 6 is a real one, but no audit.retention record names it.
    await s.ds.query('SELECT audit_retain_through(6, $1)', [await hashOf(s.ds, 6)]);
    expect((await runCli(['audit', 'verify'], s.env)).code).toBe(0);
    const r = await runCli(['audit', 'verify', '--anchors', s.file], s.env);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, problem: 'retention_unaudited', firstBadSeq: '6' });

    // By hand, up to a row no anchor names.
    const t = await scenario();
    await t.ds.transaction(async (m) => {
      await m.query(`SELECT set_config('vault.audit_retain_through', '4', true)`);
      await m.query('DELETE FROM audit_events WHERE seq <= 4');
      await m.query('INSERT INTO audit_retention (id, seq, hash) VALUES (1, 4, $1)', [await hashOf(t.ds, 4)]);
    });
    const r2 = await runCli(['audit', 'verify', '--anchors', t.file], t.env);
    expect(r2.code).toBe(2);
    expect(JSON.parse(r2.stdout)).toMatchObject({ problem: 'retention_unanchored', firstBadSeq: '4' });
  });

  it('refuses to remove anything from a chain that does not verify, or with no anchor before --before', async () => {
    const s = await scenario();
    await s.ds.transaction(async (m) => {
      await m.query('SET LOCAL session_replication_role = replica');
      await m.query(`UPDATE audit_events SET outcome = 'denied' WHERE seq = 5`);
    });
    const r = await runCli(['audit', 'retain', '--anchors', s.file, '--before', new Date().toISOString()], s.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('audit retain: anchor seq=6');
    expect(await seqs(s.ds)).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const t = await scenario();
    const early = await runCli(['audit', 'retain', '--anchors', t.file, '--before', '2000-01-01T00:00:00Z'], t.env);
    expect(early.code).toBe(64);
    expect(early.stderr).toContain('no anchor signed before');
    expect(await seqs(t.ds)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
