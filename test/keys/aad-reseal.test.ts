import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring, RecordRef, SEALED_LAYOUT, SEALED_TABLES, SealedTable } from '../../libs/crypto';
import { KeyAdminService, KeyJobRunner, KeyScheduler, TenantKeyCacheSync } from '../../libs/keys';
import { asTenantId } from '../../libs/kernel';
import { separateClient } from '../audit/support';
import { LogCapture } from '../support/log-capture';
import { startTestVault, TestVault } from '../support/vault';
import { release, seedTenant, spawnWorker, SpawnedWorker, trafficDuring, waitFor } from './support';

/**
 * Issue 14, class 2: rows sealed before the upgrade (AAD scheme 1: not bound to their owner
 * columns) move onto scheme 2 online. The `aad_reseal` key job re-seals them in batches while
 * releases run (reads open both schemes meanwhile), survives SIGKILL of its worker (a second one
 * finishes), shows its progress in GET /v1/admin/keys, and once it finished the old scheme is
 * refused: a pre-upgrade ciphertext put back into its row no longer opens.
 */
describe('AAD re-seal job', () => {
  let v: TestVault;
  let kekFile: string;
  const logs = new LogCapture();
  const T = 'legacy';
  const USERS = Array.from({ length: 120 }, (_, i) => `user${i}`);
  const workers: SpawnedWorker[] = [];
  const admin = () => v.issuer.adminToken(T);
  const jobRow = async (id: string) =>
    (await v.db.ds.query(`SELECT status, done::int, total::int FROM vault.key_jobs WHERE id = $1`, [id]))[0];

  /** Records with a field under scheme 1 (its first byte is the old blob format byte). */
  async function onOldScheme(table?: SealedTable): Promise<number> {
    let n = 0;
    for (const t of table ? [table] : SEALED_TABLES) {
      const cols = Object.values(SEALED_LAYOUT[t].fields as Record<string, string>);
      const [r] = await v.db.ds.query(
        `SELECT count(*)::int AS n FROM vault.${t} WHERE tenant = $1 AND (${cols.map((c) => `get_byte(${c}, 0) = 1`).join(' OR ')})`,
        [T],
      );
      n += r.n;
    }
    return n;
  }

  /**
   * What the vault before issue 14 wrote: every sealed field of the tenant re-sealed under scheme 1
   * with its own DEK (the keyring writes scheme 1 only while the tenant's floor is 1).
   */
  async function writtenBeforeTheUpgrade(tenant = T): Promise<number> {
    const keyring = v.vault.app.get(Keyring);
    let n = 0;
    for (const table of SEALED_TABLES) {
      const layout = SEALED_LAYOUT[table];
      const fields = Object.entries(layout.fields as Record<string, string>);
      for (const r of await v.db.ds.query(`SELECT * FROM vault.${table} WHERE tenant = $1 AND dek_wrapped IS NOT NULL`, [tenant])) {
        const ref: RecordRef = { tenant: asTenantId(tenant), table, id: r.id, bind: Object.fromEntries(layout.bind.map((b) => [b, r[b]])) };
        const old = await keyring.reseal(ref, r.dek_wrapped, Object.fromEntries(fields.map(([f, c]) => [f, r[c]])), 1);
        await v.db.ds.query(`UPDATE vault.${table} SET ${fields.map(([, c], i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`, [
          r.id,
          ...fields.map(([f]) => old[f]),
        ]);
        n++;
      }
    }
    return n;
  }

  beforeAll(async () => {
    kekFile = join(mkdtempSync(join(tmpdir(), 'kek-')), 'kek.json');
    v = await startTestVault(
      {
        LOCAL_KEK_FILE: kekFile,
        KEY_ROTATION_BATCH_SIZE: '16',
        KEY_JOB_LEASE_SECONDS: '2',
        OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
        WEBHOOKS_IN_PROCESS: 'false',
      },
      { logger: logs },
    );
    // A tenant that existed before the upgrade: the migration leaves it on scheme 1.
    await v.db.ds.query(`INSERT INTO vault.tenants (id, aad_scheme) VALUES ($1, 1)`, [T]);
    await seedTenant(v, T, USERS);
    const put = (path: string, body: unknown) =>
      v.call('PUT', path, { token: admin(), body }).then((r) => expect(r.status).toBeLessThan(300));
    await put('/v1/admin/integrations/calendar', {
      provider: 'google',
      client_id: 'cal',
      client_secret: 'cal-secret',
      scopes: ['calendar.readonly'],
    });
    await put('/v1/admin/webhooks', { url: 'http://127.0.0.1:9/hooks', events: ['*'] });
    expect(await writtenBeforeTheUpgrade()).toBe(USERS.length + 2);
  });
  afterAll(async () => {
    for (const w of workers) await w.kill();
    await v?.close();
  });

  it(
    're-seals online: releases run throughout, SIGKILL of the worker mid-job, a second worker finishes; progress in GET ' +
      '/v1/admin/keys; the old scheme is refused afterwards',
    async () => {
      expect(await onOldScheme()).toBe(USERS.length + 2);
      // Scheme-1 rows still read (the floor is 1): every user gets their key.
      for (const u of USERS.slice(0, 5)) expect((await release(v, T, u)).body.api_key).toBe(`key-${T}-${u}`);
      const preUpgrade = (
        await v.db.ds.query(`SELECT id, dek_wrapped, api_key_ct FROM vault.connections WHERE tenant = $1 AND subject = 'user7'`, [T])
      )[0];

      const before = await v.call('GET', '/v1/admin/keys', { token: admin() });
      expect(before.body.tenants[0].aad).toEqual({ scheme: 1, current: 2, records_on_older_scheme: USERS.length + 2 });
      expect(before.body.warnings.map((w: { code: string }) => w.code)).toContain('aad_reseal_pending');

      // The scheduler starts the job on its own after the upgrade.
      const { enqueued } = await v.vault.app.get(KeyScheduler).tick();
      const job = enqueued.find((j) => j.kind === 'aad_reseal');
      expect(job).toMatchObject({ tenant: null, status: 'pending' });
      const id = job!.id;

      const traffic = trafficDuring(v, T, USERS);
      const writer = await separateClient(v.db.url);
      const env = {
        DATABASE_URL: v.db.url,
        LOCAL_KEK_FILE: kekFile,
        KEY_ROTATION_BATCH_SIZE: '16',
        KEY_JOB_LEASE_SECONDS: '2',
        KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
      };
      try {
        // Hold one record so the first worker is stuck with all but it re-sealed, then kill it there.
        await writer.query('BEGIN');
        await writer.query(`SELECT id FROM connections WHERE tenant = $1 AND subject = 'user42' FOR UPDATE`, [T]);
        const first = spawnWorker(env);
        workers.push(first);
        await waitFor('the first worker to re-seal all but the held record', async () => (await onOldScheme()) === 1, 30_000);
        const during = await v.call('GET', '/v1/admin/keys', { token: admin() });
        const shown = during.body.jobs.find((j: { id: string }) => j.id === id);
        expect(shown).toMatchObject({ kind: 'aad_reseal', status: 'running' });
        await waitFor('progress to reach the job row', async () => (await jobRow(id)).done > 0);
        expect(during.body.tenants[0].aad).toMatchObject({ scheme: 1, records_on_older_scheme: 1 });
        await first.kill('SIGKILL');
        await writer.query('COMMIT');
        expect((await jobRow(id)).status).toBe('running');

        const second = spawnWorker(env);
        workers.push(second);
        await waitFor('the second worker to finish', async () => (await jobRow(id)).status === 'succeeded', 30_000);
        await second.kill('SIGTERM');
      } finally {
        await writer.end();
      }
      const statuses = await traffic.stop();
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);

      expect(await onOldScheme()).toBe(0);
      expect((await v.db.ds.query(`SELECT aad_scheme FROM vault.tenants WHERE id = $1`, [T]))[0].aad_scheme).toBe(2);
      const [done] = await v.db.ds.query(
        `SELECT details FROM vault.audit_events WHERE tenant = $1 AND action = ` +
          `'key.reseal' AND outcome = 'allowed' ORDER BY seq DESC LIMIT 1`,
        [T],
      );
      expect(done.details).toMatchObject({ job: id, aad_scheme: 2, unreadable: 0 });
      const after = await v.call('GET', '/v1/admin/keys', { token: admin() });
      expect(after.body.tenants[0].aad).toEqual({ scheme: 2, current: 2, records_on_older_scheme: 0 });
      expect(after.body.warnings.map((w: { code: string }) => w.code)).not.toContain('aad_reseal_pending');

      // Everything reads under the new scheme (this process learns of the raised floor by the cache sync).
      await v.vault.app.get(TenantKeyCacheSync).sync();
      for (const u of USERS) expect((await release(v, T, u)).body.api_key).toBe(`key-${T}-${u}`);

      // A pre-upgrade ciphertext put back (a restored backup row, or an attacker downgrading) is refused now.
      await v.db.ds.query(`UPDATE vault.connections SET dek_wrapped = $2, api_key_ct = $3 WHERE id = $1`, [
        preUpgrade.id,
        preUpgrade.dek_wrapped,
        preUpgrade.api_key_ct,
      ]);
      const mark = logs.lines.length;
      const refused = await release(v, T, 'user7');
      expect(refused.status).toBe(500);
      expect(refused.body).toMatchObject({ code: 'internal_error' });
      expect(
        logs.lines.slice(mark).filter((l) => l.includes('ALERT decrypt_failed') && l.includes(`record=${preUpgrade.id}`)),
      ).toHaveLength(1);
      // And the floor cannot be lowered again without DDL rights.
      await expect(v.db.ds.query(`UPDATE vault.tenants SET aad_scheme = 1 WHERE id = $1`, [T])).rejects.toMatchObject({
        driverError: expect.objectContaining({ code: 'VK002' }),
      });
    },
  );

  it(
    'a record that does not open under its old scheme is left as it is, alarmed and audited once; the job still ' + 'finishes the tenant',
    async () => {
      const B = 'legacy-broken';
      await v.db.ds.query(`INSERT INTO vault.tenants (id, aad_scheme) VALUES ($1, 1)`, [B]);
      await seedTenant(v, B, ['u1', 'u2', 'u3']);
      expect(await writtenBeforeTheUpgrade(B)).toBe(3);
      // One ciphertext damaged while still on scheme 1 (a bit flipped in its tag).
      const [broken] = await v.db.ds
        .query(
          `UPDATE vault.connections
        SET api_key_ct = set_byte(api_key_ct, octet_length(api_key_ct) - 1, get_byte(api_key_ct, octet_length(api_key_ct) - 1) # 1)
        WHERE tenant = $1 AND subject = 'u2' RETURNING id`,
          [B],
        )
        .then((r: [Array<{ id: string }>]) => r[0]);
      const mark = logs.lines.length;
      const { job } = await v.vault.app.get(KeyAdminService).reseal({ tenant: B, subject: 'ops', operator: true });
      expect(await v.vault.app.get(KeyJobRunner).runOnce(job.id)).toMatchObject({ status: 'succeeded' });

      expect((await v.db.ds.query(`SELECT aad_scheme FROM vault.tenants WHERE id = $1`, [B]))[0].aad_scheme).toBe(2);
      const [finished] = await v.db.ds.query(
        `SELECT details FROM vault.audit_events WHERE tenant = $1 AND action = 'key.reseal' AND details->>'job' = $2`,
        [B, job.id],
      );
      expect(finished.details).toMatchObject({ aad_scheme: 2, resealed: 2, unreadable: 1 });
      expect(logs.lines.slice(mark).filter((l) => l.includes('ALERT decrypt_failed') && l.includes(`record=${broken.id}`))).toHaveLength(1);
      const audited = await v.db.ds.query(
        `SELECT action FROM vault.audit_events WHERE tenant = $1 AND reason = 'decrypt_failed' AND details->>'record' = $2`,
        [B, broken.id],
      );
      expect(audited).toEqual([{ action: 'key.reseal' }]);
      for (const u of ['u1', 'u3']) expect((await release(v, B, u)).body.api_key).toBe(`key-${B}-${u}`);
      expect((await release(v, B, 'u2')).status).toBe(500);
    },
  );
});
