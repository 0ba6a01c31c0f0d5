import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyJobRunner, KeyScheduler } from '../../libs/keys';
import { startTestVault, TestVault } from '../support/vault';
import { runCli, seedTenant, waitFor } from './support';

/**
 * The operator surface of issue 5: GET /v1/admin/keys, POST /v1/admin/keys/rotate, job
 * progress, cryptoperiod warnings and automatic rotation, and the `keys` CLI with its exit codes.
 */
describe('key management API and CLI', () => {
  let v: TestVault;
  let kekFile: string;
  const admin = (t: string) => v.issuer.adminToken(t);
  const operator = (t = 'ops') => v.issuer.sign({ sub: `secops@${t}`, tid: t, scope: 'vault:admin vault:operator' });
  const cliEnv = () => ({ DATABASE_URL: v.db.url, LOCAL_KEK_FILE: kekFile });

  beforeAll(async () => {
    kekFile = join(mkdtempSync(join(tmpdir(), 'kek-')), 'kek.json');
    v = await startTestVault({
      LOCAL_KEK_FILE: kekFile,
      KEY_ROTATION_PERIOD_DAYS_TK: '30',
      KEY_ROTATION_PERIOD_DAYS_KEK: '30',
      KEY_ROTATION_RETIRE_DELAY_MS: '0',
    });
    await seedTenant(v, 'alpha', ['a1', 'a2', 'a3']);
    await seedTenant(v, 'beta', ['b1']);
  });
  afterAll(() => v?.close());

  it('GET /v1/admin/keys: a tenant admin sees their tenant — versions with record counts — and nothing of other tenants', async () => {
    const r = await v.call('GET', '/v1/admin/keys', { token: admin('alpha') });
    expect(r.status).toBe(200);
    expect(r.body.kek).toMatchObject({
      provider: 'local',
      current_key_id: expect.stringMatching(/^local:kek\//),
      period_days: 30,
      automatic: true,
    });
    expect(r.body.kek.versions).toEqual([{ key_id: r.body.kek.current_key_id, current: true, tenant_keys: 1 }]);
    expect(r.body.tenants).toEqual([
      {
        tenant: 'alpha',
        active_version: 1,
        min_version: 1,
        shredded_at: null,
        aad: { scheme: 2, current: 2, records_on_older_scheme: 0 },
        versions: [
          expect.objectContaining({
            version: 1,
            status: 'active',
            records: { connections: 3, integrations: 0, connect_sessions: 0, webhook_endpoints: 0, derived_tokens: 0, user_logins: 0 },
            encryptions: 3,
          }),
        ],
      },
    ]);
    expect(r.body.summary).toBeUndefined();
    expect(r.body.warnings).toEqual([]);
    expect(r.text).not.toContain('beta');
    // ?tenant= is for operators; a tenant admin's view stays their own.
    expect((await v.call('GET', '/v1/admin/keys?tenant=beta', { token: admin('alpha') })).text).not.toContain('"beta"');
  });

  it('GET /v1/admin/keys as an operator: every tenant, system keys, a summary', async () => {
    const r = await v.call('GET', '/v1/admin/keys', { token: operator() });
    expect(r.body.tenants.map((t: { tenant: string }) => t.tenant).sort()).toEqual(['alpha', 'beta']);
    expect(r.body.summary).toEqual({ tenants: 2, listed: 2 });
    expect(r.body.kek.versions[0]).toMatchObject({ current: true, tenant_keys: 2, system_keys: expect.any(Number) });
  });

  it('POST /v1/admin/keys/rotate: 202 with a job (the same one while it is open); the KEK and signing keys need an operator', async () => {
    expect((await v.call('POST', '/v1/admin/keys/rotate', { token: admin('alpha'), body: { target: 'kek' } })).status).toBe(403);
    expect(
      (await v.call('POST', '/v1/admin/keys/rotate', { token: admin('alpha'), body: { target: 'tenant', tenant: 'beta' } })).status,
    ).toBe(403);
    for (const body of [{ target: 'everything' }, { target: 'kek', keyVersion: 3 }, { target: 'kek', new_version: 'yes' }, {}]) {
      const bad = await v.call('POST', '/v1/admin/keys/rotate', { token: operator(), body });
      expect(bad.status).toBe(400);
    }
    expect((await v.call('POST', '/v1/admin/keys/rotate', { token: admin('alpha'), body: { target: 'signing' } })).status).toBe(403);

    const first = await v.call('POST', '/v1/admin/keys/rotate', { token: admin('alpha'), body: { target: 'tenant' } });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({
      target: 'tenant',
      created: true,
      job: { kind: 'tenant_rotate', tenant: 'alpha', status: 'pending', progress: 0 },
    });
    const again = await v.call('POST', '/v1/admin/keys/rotate', { token: admin('alpha'), body: { target: 'tenant' } });
    expect(again.body).toMatchObject({ created: false, job: { id: first.body.job.id } });

    const job = `/v1/admin/keys/jobs/${first.body.job.id}`;
    expect((await v.call('GET', job, { token: admin('beta') })).status).toBe(404); // another tenant's job is not there
    expect((await v.call('GET', '/v1/admin/keys/jobs/not-a-uuid', { token: admin('alpha') })).status).toBe(404);
    await v.vault.app.get(KeyJobRunner).runOnce(first.body.job.id);
    expect((await v.call('GET', job, { token: admin('alpha') })).body).toMatchObject({
      status: 'succeeded',
      done: 3,
      total: 3,
      progress: 1,
    });
    const status = await v.call('GET', '/v1/admin/keys', { token: admin('alpha') });
    expect(status.body.tenants[0]).toMatchObject({ active_version: 2, min_version: 2 });
    expect(status.body.jobs[0]).toMatchObject({ id: first.body.job.id, status: 'succeeded' });
  });

  it(
    '{"target":"signing"} rotates the token service signing key at once: the new key is published with the previous ' + 'one, audited',
    async () => {
      const jwks = async () => ((await v.call('GET', '/.well-known/jwks.json')).body.keys as Array<{ kid: string }>).map((k) => k.kid);
      const before = await jwks();
      const r = await v.call('POST', '/v1/admin/keys/rotate', { token: operator(), body: { target: 'signing' } });
      expect(r.status).toBe(202);
      expect(r.body.job).toMatchObject({ kind: 'signing_rotate', tenant: null, status: 'succeeded', progress: 1 });
      const after = await jwks();
      expect(after).toEqual(expect.arrayContaining(before)); // the previous key stays published for its overlap
      expect(after.length).toBe(before.length + 1);
      const [event] = await v.db.ds.query(
        `SELECT tenant, outcome, details FROM vault.audit_events WHERE action = 'key.rotate' AND details->>'target' = 'signing'`,
      );
      expect(event).toMatchObject({
        tenant: 'ops',
        outcome: 'allowed',
        details: { job: r.body.job.id, kid: after.find((k) => !before.includes(k)), by: 'secops@ops' },
      });
    },
  );

  it('warns past the cryptoperiod, and the scheduler rotates what is due (tenant keys; the KEK with a new version)', async () => {
    await v.db.ds.query(`UPDATE vault.tenant_keys SET created_at = now() - interval '31 days' WHERE tenant = 'beta'`);
    const kek = JSON.parse(readFileSync(kekFile, 'utf8'));
    for (const version of kek.versions) version.created = new Date(Date.now() - 31 * 86_400_000).toISOString();
    writeFileSync(kekFile, JSON.stringify(kek));
    const before = await v.call('GET', '/v1/admin/keys', { token: operator() });
    expect(before.body.warnings.map((w: { code: string; tenant?: string }) => [w.code, w.tenant])).toEqual(
      expect.arrayContaining([
        ['kek_past_cryptoperiod', undefined],
        ['tenant_key_past_cryptoperiod', 'beta'],
      ]),
    );

    const { enqueued } = await v.vault.app.get(KeyScheduler).tick();
    expect(enqueued.map((j) => [j.kind, j.tenant, j.requestedBy, j.params.create_version])).toEqual([
      ['kek_rotate', null, 'scheduler', true],
      ['tenant_rotate', 'beta', 'scheduler', undefined],
    ]);
    expect((await v.vault.app.get(KeyScheduler).tick()).enqueued).toEqual([]); // idempotent while they are open
    const runner = v.vault.app.get(KeyJobRunner);
    while (await runner.runOnce());
    const after = await v.call('GET', '/v1/admin/keys', { token: operator() });
    expect(after.body.kek.current_key_id).not.toBe(before.body.kek.current_key_id);
    expect(after.body.kek.versions).toEqual([
      expect.objectContaining({ key_id: after.body.kek.current_key_id, current: true, tenant_keys: 2 }),
    ]);
    expect(after.body.warnings).toEqual([]);
  });

  it('with KEY_JOBS_IN_PROCESS (the embedded default) the API runs key jobs itself', async () => {
    const solo = await startTestVault({
      KEY_JOBS_IN_PROCESS: 'true',
      KEY_SCHEDULER_INTERVAL_SECONDS: '1',
      KEY_ROTATION_RETIRE_DELAY_MS: '0',
    });
    try {
      await seedTenant(solo, 'solo', ['s1', 's2']);
      const r = await solo.call('POST', '/v1/admin/keys/rotate', { token: solo.issuer.adminToken('solo'), body: { target: 'tenant' } });
      expect(r.status).toBe(202);
      const job = await waitFor('the in-process runner to finish the job', async () => {
        const j = await solo.call('GET', r.headers.get('location')!, { token: solo.issuer.adminToken('solo') });
        return j.body.status === 'succeeded' && j.body;
      });
      expect(job).toMatchObject({ done: 2, total: 2 });
    } finally {
      await solo.close();
    }
  });

  it('the keys CLI: status, rotate with progress, retire refused, and exit codes scripts rely on', async () => {
    const status = await runCli(['keys', 'status', '--json'], cliEnv());
    expect(status.code).toBe(0);
    expect(
      JSON.parse(status.stdout)
        .tenants.map((t: { tenant: string }) => t.tenant)
        .sort(),
    ).toEqual(['alpha', 'beta']);

    const rotate = await runCli(['keys', 'rotate', '--target', 'tenant', '--tenant', 'alpha', '--run'], cliEnv());
    expect(rotate.code).toBe(0);
    expect(rotate.stdout).toMatch(/^job [0-9a-f-]{36} tenant_rotate \(alpha\) pending$/m);
    expect(rotate.stdout).toMatch(/^tenant_rotate alpha succeeded 3\/3 \(100%\)$/m); // plain lines: stdout is not a TTY
    expect(rotate.stdout).not.toContain('\r');

    // Version 3 is now active: retiring it is refused (exit 4); an unknown command is a usage error.
    const refused = await runCli(['keys', 'retire', '--version', '3', '--tenant', 'alpha'], cliEnv());
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('conflict');
    const [event] = await v.db.ds.query(
      `SELECT outcome, reason, details FROM vault.audit_events WHERE tenant = 'alpha' AND action = 'key.retire' ORDER BY seq DESC LIMIT 1`,
    );
    expect(event).toMatchObject({ outcome: 'denied', reason: 'conflict', details: { by: expect.stringMatching(/^cli:/) } });
    expect((await runCli(['keys', 'rotate', '--target', 'everything'], cliEnv())).code).toBe(64);
    // A mistyped tenant is an error naming it, not "succeeded 0/0"; no job is queued for it.
    const typo = await runCli(['keys', 'rotate', '--target', 'tenant', '--tenant', 'alpah', '--run'], cliEnv());
    expect([typo.code, typo.stderr.trim()]).toEqual([1, 'not_found: no tenant "alpah"']);
    expect(typo.stdout).not.toContain('succeeded');
    expect(await v.db.ds.query(`SELECT id FROM vault.key_jobs WHERE tenant = 'alpah'`)).toEqual([]);

    // The CLI runs with no rotation period configured: warnings use the 365-day default cryptoperiod.
    await v.db.ds.query(
      `UPDATE vault.tenant_keys SET created_at = now() - interval '400 days' WHERE tenant = 'alpha' AND status = 'active'`,
    );
    const warned = await runCli(['keys', 'status'], cliEnv());
    expect(warned.code).toBe(5);
    expect(warned.stdout).toContain('WARNING tenant_key_past_cryptoperiod');
    // Every sealed table is counted per version, as retirement counts them.
    expect(warned.stdout).toMatch(
      /v\d+ active +connections \d+ +integrations \d+ +connect_sessions \d+ +webhook_endpoints \d+ +user_logins \d+ +derived_tokens \d+ +encryptions \d+/,
    );
  });
});
