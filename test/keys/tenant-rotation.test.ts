import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '../../libs/crypto';
import { KeyJobRunner } from '../../libs/keys';
import { asTenantId } from '../../libs/kernel';
import { separateClient } from '../audit/support';
import { startTestVault, TestVault } from '../support/vault';
import { putKey, release, seedTenant, spawnWorker, SpawnedWorker, trafficDuring, waitFor } from './support';

/**
 * Tenant-key rotation (issue 5) on real Postgres: a new TK, DEKs rewrapped in batches with
 * FOR UPDATE SKIP LOCKED (never the data), the old TK destroyed; retirement refused while rows
 * use a version (SECURITY 23); releases and writes working throughout; SIGKILL of the worker.
 */
describe('tenant-key rotation', () => {
  let v: TestVault;
  let kekFile: string;
  const T = 'rot';
  const USERS = Array.from({ length: 120 }, (_, i) => `user${i}`);
  const workers: SpawnedWorker[] = [];
  const admin = () => v.issuer.adminToken(T);
  const keyVersions = async (tenant = T) =>
    v.db.ds.query(
      `SELECT version, status, octet_length(wrapped) AS len, destroyed_at IS NOT NULL AS destroyed FROM ` +
        `vault.tenant_keys WHERE tenant = $1 ORDER BY version`,
      [tenant],
    );
  const below = async (version: number) =>
    Number((await v.db.ds.query(`SELECT count(*) AS n FROM vault.connections WHERE tenant = $1 AND tk_version < $2`, [T, version]))[0].n);
  const jobRow = async (id: string) =>
    (await v.db.ds.query(`SELECT status, params, done::int, total::int FROM vault.key_jobs WHERE id = $1`, [id]))[0];

  async function requestRotation(): Promise<string> {
    const r = await v.call('POST', '/v1/admin/keys/rotate', { token: admin(), body: { target: 'tenant' } });
    expect(r.status).toBe(202);
    expect(r.body.job).toMatchObject({ kind: 'tenant_rotate', tenant: T, status: 'pending' });
    return r.body.job.id;
  }

  async function everyoneGets(expected: (user: string) => string) {
    for (const u of USERS) {
      const r = await release(v, T, u);
      expect(r.status).toBe(200);
      expect(r.body.api_key).toBe(expected(u));
    }
  }

  beforeAll(async () => {
    kekFile = join(mkdtempSync(join(tmpdir(), 'kek-')), 'kek.json');
    v = await startTestVault({
      LOCAL_KEK_FILE: kekFile,
      KEY_ROTATION_BATCH_SIZE: '16',
      KEY_ROTATION_RETIRE_DELAY_MS: '100',
      KEY_JOB_LEASE_SECONDS: '2',
    });
    await seedTenant(v, T, USERS);
  });
  afterAll(async () => {
    for (const w of workers) await w.kill();
    await v?.close();
  });

  it('new TK for new writes, DEKs rewrapped (ciphertexts untouched), old TK destroyed — releases and writes keep working', async () => {
    const before = new Map<string, { ct: Buffer; dek: Buffer }>(
      (await v.db.ds.query(`SELECT subject, api_key_ct, dek_wrapped FROM vault.connections WHERE tenant = $1`, [T])).map((r: any) => [
        r.subject,
        { ct: r.api_key_ct, dek: r.dek_wrapped },
      ]),
    );
    const id = await requestRotation();
    const traffic = trafficDuring(v, T, USERS, { writes: true });
    const ended = await v.vault.app.get(KeyJobRunner).runOnce(id);
    await traffic.stop();

    expect(ended).toMatchObject({ status: 'succeeded' });
    expect(traffic.statuses.length).toBeGreaterThan(20);
    expect(traffic.statuses.every((s) => s === 200)).toBe(true);
    expect(await keyVersions()).toEqual([
      { version: 1, status: 'destroyed', len: 0, destroyed: true },
      { version: 2, status: 'active', len: expect.any(Number), destroyed: false },
    ]);
    expect((await v.db.ds.query(`SELECT min_key_version FROM vault.tenants WHERE id = $1`, [T]))[0].min_key_version).toBe(2);
    expect(await below(2)).toBe(0);
    // Rewrap only: a record nobody wrote to meanwhile kept its field ciphertext, with a new wrapped DEK.
    const after = await v.db.ds.query(`SELECT subject, api_key_ct, dek_wrapped FROM vault.connections WHERE tenant = $1`, [T]);
    const untouched = after.filter((r: any) => !traffic.written.has(r.subject));
    expect(untouched.length).toBeGreaterThan(50);
    for (const r of untouched) {
      expect(r.api_key_ct).toEqual(before.get(r.subject)!.ct);
      expect(r.dek_wrapped).not.toEqual(before.get(r.subject)!.dek);
    }
    await everyoneGets((u) => traffic.written.get(u) ?? `key-${T}-${u}`);

    // (The writes meanwhile were API-key rotations, audited as key.rotate with target api_key.)
    const audit = await v.db.ds.query(
      `SELECT action, outcome, details FROM vault.audit_events WHERE tenant = $1 AND ` +
        `action LIKE 'key.%' AND details->>'target' = 'tenant' ORDER BY seq`,
      [T],
    );
    expect(audit.map((a: any) => [a.action, a.details.phase ?? a.details.versions])).toEqual([
      ['key.rotate', 'requested'],
      ['key.retire', [1]],
      ['key.rotate', 'completed'],
    ]);
  });

  it('FOR UPDATE SKIP LOCKED: a record a writer holds is passed over, then moved once released', async () => {
    const id = await requestRotation();
    const writer = await separateClient(v.db.url);
    try {
      await writer.query('BEGIN');
      await writer.query(`SELECT id FROM connections WHERE tenant = $1 AND subject = 'user7' FOR UPDATE`, [T]);
      const running = v.vault.app.get(KeyJobRunner).runOnce(id);
      await waitFor('every other record to move', async () => (await jobRow(id)).params.to_version && (await below(3)) === 1);
      expect((await jobRow(id)).status).toBe('running'); // waiting for the held row, not failed, not retired
      expect((await keyVersions()).map((k: any) => k.status)).toEqual(['destroyed', 'decrypt_only', 'active']);
      await writer.query('COMMIT');
      expect(await running).toMatchObject({ status: 'succeeded' });
    } finally {
      await writer.end();
    }
    expect(await below(3)).toBe(0);
    expect((await keyVersions()).map((k: any) => k.status)).toEqual(['destroyed', 'destroyed', 'active']);
  });

  it(
    'SECURITY 23: retiring is refused while records use a version; a version relabelled to a retired one is refused; no ' +
      'row can name one',
    async () => {
      const keyring = v.vault.app.get(Keyring);
      const stale = await keyring.seal(
        { tenant: asTenantId(T), table: 'connections', id: 'x', bind: { subject: 'u1', integration: 'openai' } },
        { api_key: Buffer.from('stale') },
      ); // under v3
      expect(await keyring.rotateTenantKey(asTenantId(T))).toBe(4);
      for (const version of [3, 4]) {
        const r = await v.call('POST', '/v1/admin/keys/retire', { token: admin(), body: { version } });
        expect(r.status).toBe(409);
        expect(r.body.code).toBe('conflict');
      }
      const denied = await v.db.ds.query(
        `SELECT outcome, reason FROM vault.audit_events WHERE tenant = $1 AND action = 'key.retire' ORDER BY seq DESC LIMIT 2`,
        [T],
      );
      expect(denied).toEqual([
        { outcome: 'denied', reason: 'conflict' },
        { outcome: 'denied', reason: 'conflict' },
      ]);

      // → v5, v3 and v4 destroyed
      expect(await v.vault.app.get(KeyJobRunner).runOnce(await requestRotation())).toMatchObject({ status: 'succeeded' });
      expect((await keyVersions()).filter((k: any) => k.status !== 'destroyed').map((k: any) => k.version)).toEqual([5]);

      // A DEK relabelled to claim a retired version (the ciphertext of its day, e.g. from a backup): refused.
      const [row] = await v.db.ds.query(`SELECT id, dek_wrapped FROM vault.connections WHERE tenant = $1 AND subject = 'user3'`, [T]);
      const relabelled = Buffer.from(row.dek_wrapped);
      relabelled.writeUInt32BE(3, 1);
      await v.db.ds.query(`UPDATE vault.connections SET dek_wrapped = $1 WHERE id = $2`, [relabelled, row.id]);
      const res = await release(v, T, 'user3');
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('internal_error');
      // And no row may name a retired version at all (the key_version_guard trigger).
      await expect(v.db.ds.query(`UPDATE vault.connections SET tk_version = 3 WHERE id = $1`, [row.id])).rejects.toMatchObject({
        code: 'VK001',
      });

      // A write sealed under a key retired meanwhile is sealed again, not stored unreadable.
      const original = keyring.seal.bind(keyring);
      const spy = jest
        .spyOn(keyring, 'seal')
        .mockImplementationOnce(async () => stale)
        .mockImplementation(original);
      try {
        expect((await putKey(v, T, 'user3', 'after-retirement')).status).toBe(200);
        expect(spy).toHaveBeenCalledTimes(2);
      } finally {
        spy.mockRestore();
      }
      expect((await release(v, T, 'user3')).body.api_key).toBe('after-retirement');
    },
  );

  it(
    'SECURITY 38 for tenant keys: SIGKILL of the worker mid-rewrap; a new worker resumes without making another key; ' +
      'every record decrypts',
    async () => {
      const values = new Map<string, string>();
      for (const u of USERS) values.set(u, (await release(v, T, u)).body.api_key);
      const id = await requestRotation();
      const writer = await separateClient(v.db.url);
      const env = {
        DATABASE_URL: v.db.url,
        LOCAL_KEK_FILE: kekFile,
        KEY_ROTATION_BATCH_SIZE: '16',
        KEY_ROTATION_RETIRE_DELAY_MS: '0',
        KEY_JOB_LEASE_SECONDS: '2',
        KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
      };
      try {
        // Hold one record so the first worker is stuck mid-rewrap, then kill it there.
        await writer.query('BEGIN');
        await writer.query(`SELECT id FROM connections WHERE tenant = $1 AND subject = 'user42' FOR UPDATE`, [T]);
        const first = spawnWorker(env);
        workers.push(first);
        const to = await waitFor('the first worker to move all but the held record', async () => {
          const j = await jobRow(id);
          return j.params.to_version && (await below(j.params.to_version)) === 1 ? (j.params.to_version as number) : undefined;
        });
        await first.kill('SIGKILL');
        await writer.query('COMMIT');
        expect((await jobRow(id)).status).toBe('running');

        const second = spawnWorker(env);
        workers.push(second);
        await waitFor('the second worker to finish', async () => (await jobRow(id)).status === 'succeeded', 30_000);
        await second.kill('SIGTERM');
        const keys = await keyVersions();
        expect(keys.filter((k: any) => k.status !== 'destroyed').map((k: any) => k.version)).toEqual([to]);
        expect(Math.max(...keys.map((k: any) => k.version))).toBe(to); // the resumed run made no second key
        expect(await below(to)).toBe(0);
      } finally {
        await writer.end();
      }
      await everyoneGets((u) => (u === 'user3' ? 'after-retirement' : values.get(u)!));
    },
  );
});
