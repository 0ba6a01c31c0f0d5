import { KeyJobRunner } from '../../libs/keys';
import { KeyVaultEmulator } from '../support/keyvault-emulator';
import { startSecondVault, startTestVault, TestVault } from '../support/vault';
import { release, seedTenant, spawnWorker, SpawnedWorker, trafficDuring, waitFor } from './support';

/**
 * KEK rotation as a background job (issue 5) on the real @azure/keyvault-keys client against
 * the Key Vault emulator: O(tenant keys) Key Vault calls, records untouched, resumable after
 * SIGKILL of the real worker process (SECURITY 38), slowing down and finishing under 429
 * throttling (SECURITY 36), with releases and writes working throughout.
 */
describe('KEK rotation job (Key Vault emulator, real SDK)', () => {
  let kv: KeyVaultEmulator;
  let v: TestVault;
  let env: Record<string, string>;
  const TENANTS = Array.from({ length: 16 }, (_, i) => `kt${i + 1}`);
  const USERS = ['u1', 'u2'];
  const workers: SpawnedWorker[] = [];
  const unwraps = (status = 200) => kv.requestLog.filter((e) => e.operation === 'unwrapkey' && e.status === status);
  const operator = () => v.issuer.sign({ sub: 'secops@kt1', tid: 'kt1', scope: 'vault:admin vault:operator' });
  const liveKeys = async () =>
    Number(
      (
        await v.db.ds.query(
          `SELECT (SELECT count(*) FROM vault.tenant_keys WHERE status <> 'destroyed') + (SELECT ` +
            `count(*) FROM vault.system_keys WHERE status <> 'destroyed') AS n`,
        )
      )[0].n,
    );
  const onVersion = async (kid: string) =>
    Number(
      (
        await v.db.ds.query(
          `SELECT (SELECT count(*) FROM vault.tenant_keys WHERE kek_key_id = $1) + (SELECT ` +
            `count(*) FROM vault.system_keys WHERE kek_key_id = $1) AS n`,
          [kid],
        )
      )[0].n,
    );
  const job = async (id: string) =>
    (await v.db.ds.query(`SELECT status, done::int, total::int, error_class, lease_owner FROM vault.key_jobs WHERE id = $1`, [id]))[0];

  async function requestKekRewrap(): Promise<string> {
    const r = await v.call('POST', '/v1/admin/keys/rotate', { token: operator(), body: { target: 'kek', new_version: false } });
    expect(r.status).toBe(202);
    expect(r.headers.get('location')).toBe(`/v1/admin/keys/jobs/${r.body.job.id}`);
    return r.body.job.id;
  }

  /** A second API process with cold caches: it can only decrypt through Key Vault. */
  async function everyRowDecryptsInAColdProcess(expected: (tenant: string, user: string) => string | string[], kid: string) {
    const other = await startSecondVault(v, env);
    try {
      kv.resetLog();
      for (const t of TENANTS) {
        for (const u of USERS) {
          const r = await release(v, t, u, other.url);
          expect(r.status).toBe(200);
          expect([expected(t, u)].flat()).toContain(r.body.api_key);
        }
      }
      const version = kid.split('/').pop();
      expect(unwraps().length).toBeGreaterThan(0);
      expect(unwraps().every((e) => e.version === version)).toBe(true);
    } finally {
      await other.close();
    }
  }

  beforeAll(async () => {
    kv = await KeyVaultEmulator.start();
    await kv.createKey('kek', { kty: 'RSA', keySize: 3072 });
    env = {
      ...kv.vaultEnv(),
      KEY_ROTATION_KV_RPS: '100',
      KEY_ROTATION_KV_CONCURRENCY: '1',
      KEY_JOB_LEASE_SECONDS: '2',
    };
    v = await startTestVault(env);
    for (const t of TENANTS) await seedTenant(v, t, USERS);
  });
  afterAll(async () => {
    for (const w of workers) await w.kill();
    await v?.close();
    await kv?.dispose();
  });

  it(
    'rewraps every tenant and system key onto the new version: O(keys) Key Vault calls, records untouched, releases ' + 'throughout',
    async () => {
      const before = await v.db.ds.query(`SELECT id, tk_version, dek_wrapped, api_key_ct FROM vault.connections ORDER BY id`);
      const rotated = await kv.rotateKey('kek'); // made in Key Vault (an operator or a rotation policy)
      const id = await requestKekRewrap();
      const keys = await liveKeys(); // tenant keys and system keys (the audit MAC key exists once the request is audited)
      kv.resetLog();
      const traffic = trafficDuring(v, 'kt1', USERS);
      const ended = await v.vault.app.get(KeyJobRunner).runOnce(id);
      await traffic.stop();
      expect(new Set(traffic.statuses)).toEqual(new Set([200]));

      expect(ended).toMatchObject({ status: 'succeeded', done: keys, total: keys });
      expect(unwraps()).toHaveLength(keys); // one remote unwrap per key; wraps are local
      expect(kv.requestLog.filter((e) => e.operation === 'unwrapkey')).toHaveLength(keys);
      expect(kv.requestLog.filter((e) => e.operation === 'wrapkey')).toHaveLength(0);
      expect(await onVersion(rotated.kid)).toBe(keys);
      expect(await v.db.ds.query(`SELECT id, tk_version, dek_wrapped, api_key_ct FROM vault.connections ORDER BY id`)).toEqual(before);

      const audit = await v.db.ds.query(`SELECT tenant, outcome, details FROM vault.audit_events WHERE action = 'key.rotate' ORDER BY seq`);
      expect(audit).toEqual([
        expect.objectContaining({
          tenant: 'kt1',
          outcome: 'allowed',
          details: expect.objectContaining({ target: 'kek', job: id, phase: 'requested', by: 'secops@kt1' }),
        }),
        expect.objectContaining({
          tenant: 'kt1',
          outcome: 'allowed',
          details: expect.objectContaining({ target: 'kek', job: id, phase: 'completed', key_id: rotated.kid }),
        }),
      ]);
      // Idempotent: a second run finds nothing to do and makes no unwrap call.
      kv.resetLog();
      expect(await v.vault.app.get(KeyJobRunner).runOnce(await requestKekRewrap())).toMatchObject({ status: 'succeeded', done: 0 });
      expect(unwraps()).toHaveLength(0);
      await everyRowDecryptsInAColdProcess((t, u) => `key-${t}-${u}`, rotated.kid);
    },
  );

  it('{"target":"kek"} creates the KEK version itself (Key Vault rotateKey) and moves every key onto it', async () => {
    const before = (await v.call('GET', '/v1/admin/keys', { token: operator() })).body.kek.current_key_id;
    kv.resetLog();
    const r = await v.call('POST', '/v1/admin/keys/rotate', { token: operator(), body: { target: 'kek' } });
    expect(r.status).toBe(202);
    expect(await v.vault.app.get(KeyJobRunner).runOnce(r.body.job.id)).toMatchObject({ status: 'succeeded', done: await liveKeys() });
    expect(kv.requestLog.filter((e) => e.operation === 'rotate').map((e) => e.status)).toEqual([200]);
    const after = (await v.call('GET', '/v1/admin/keys', { token: operator() })).body.kek;
    expect(after.current_key_id).not.toBe(before);
    expect(after.versions).toEqual([
      { key_id: after.current_key_id, current: true, tenant_keys: TENANTS.length, system_keys: expect.any(Number) },
    ]);
    expect(await onVersion(after.current_key_id)).toBe(await liveKeys());
  });

  it(
    'SECURITY 38: SIGKILL of the worker mid-rewrap, then a new worker resumes; every row decrypts; reads and writes ' + 'work throughout',
    async () => {
      const keys = await liveKeys();
      const rotated = await kv.rotateKey('kek');
      kv.resetLog();
      const id = await requestKekRewrap();
      const workerEnv = {
        ...env,
        DATABASE_URL: v.db.url,
        VAULT_PUBLIC_URL: 'https://vault.test.example',
        KEY_ROTATION_KV_RPS: '6', // slow enough to be killed half way
        KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
      };
      const traffic = trafficDuring(v, 'kt2', USERS, { writes: true });

      const first = spawnWorker(workerEnv);
      workers.push(first);
      await waitFor('the first worker to move some keys', async () => (await onVersion(rotated.kid)) >= 3);
      await first.kill('SIGKILL');
      const moved = await onVersion(rotated.kid);
      expect(moved).toBeLessThan(keys);
      expect(await job(id)).toMatchObject({ status: 'running', lease_owner: expect.any(String) }); // its lease just runs out

      const second = spawnWorker(workerEnv);
      workers.push(second);
      const ended = await waitFor(
        'the second worker to finish the job',
        async () => ((await job(id)).status === 'succeeded' ? job(id) : undefined),
        30_000,
      );
      expect(ended.lease_owner).toBeNull();
      expect(await onVersion(rotated.kid)).toBe(keys);
      await second.kill('SIGTERM');

      await traffic.stop();
      expect(traffic.statuses.length).toBeGreaterThan(10);
      expect(traffic.statuses.every((s) => s === 200)).toBe(true);
      // Keys moved before the kill are not unwrapped again: at most the one in flight is redone,
      // plus the audit MAC key the second worker loads to record the outcome.
      expect(unwraps().length).toBeGreaterThanOrEqual(keys);
      expect(unwraps().length).toBeLessThanOrEqual(keys + 2);
      await everyRowDecryptsInAColdProcess(
        (t, u) => (t === 'kt2' && traffic.written.has(u) ? traffic.written.get(u)! : `key-${t}-${u}`),
        rotated.kid,
      );
    },
  );

  it(
    'SECURITY 36: Key Vault 429 with Retry-After during the job: honoured, the job slows down and finishes; cached ' + 'reads keep working',
    async () => {
      const keys = await liveKeys();
      const rotated = await kv.rotateKey('kek');
      kv.resetLog();
      const id = await requestKekRewrap();
      // More 429s in a row than the SDK retries: the job itself must back off and carry on.
      kv.inject({ kind: 'throttle', retryAfterSeconds: 1, count: 5, operation: 'unwrapkey' });
      const traffic = trafficDuring(v, 'kt3', USERS);
      const ended = await v.vault.app.get(KeyJobRunner).runOnce(id);
      await traffic.stop();
      expect(traffic.statuses.every((s) => s === 200)).toBe(true);

      expect(ended).toMatchObject({ status: 'succeeded', done: keys, errorClass: null });
      expect(await onVersion(rotated.kid)).toBe(keys);
      const log = kv.requestLog.filter((e) => e.operation === 'unwrapkey');
      expect(log.filter((e) => e.status === 429)).toHaveLength(5);
      expect(log.filter((e) => e.status === 200)).toHaveLength(keys);
      // Every request after a 429 came after its Retry-After (1 s), whether the SDK or the job retried.
      for (let i = 1; i < log.length; i++) if (log[i - 1].status === 429) expect(log[i].at - log[i - 1].at).toBeGreaterThanOrEqual(950);
      const [done] = await v.db.ds.query(
        `SELECT details FROM vault.audit_events WHERE action = 'key.rotate' AND details->>'job' = $1 AND details->>'phase' = 'completed'`,
        [id],
      );
      expect(done.details.throttled).toBeGreaterThanOrEqual(5);
    },
  );
});
