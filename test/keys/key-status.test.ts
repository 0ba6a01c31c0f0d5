import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring, SEALED_TABLES } from '../../libs/crypto';
import { KeyJobRunner } from '../../libs/keys';
import { asTenantId } from '../../libs/kernel';
import { startTestVault, TestVault } from '../support/vault';
import { seedTenant } from './support';

/**
 * `GET /v1/admin/keys` counts records per tenant-key version in every sealed table, the same tables
 * retirement checks before it destroys a version: a version the listing shows as empty can be retired.
 */
describe('key status: record counts per tenant-key version', () => {
  let v: TestVault;

  beforeAll(async () => {
    v = await startTestVault({
      LOCAL_KEK_FILE: join(mkdtempSync(join(tmpdir(), 'kek-')), 'kek.json'),
      KEY_ROTATION_RETIRE_DELAY_MS: '0',
      OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    });
    await seedTenant(v, 'rec', ['u1', 'u2']);
    // A webhook endpoint: its signing secret is sealed under the tenant key.
    const put = await v.call('PUT', '/v1/admin/webhooks', {
      token: v.issuer.adminToken('rec'),
      body: { url: 'http://127.0.0.1:9/hooks', events: ['*'] },
    });
    expect(put.status).toBeLessThan(300);
    // A connect session under way (status authorizing) holds its PKCE verifier sealed the same way.
    const id = randomUUID();
    const sealed = await v.vault.app
      .get(Keyring)
      .seal(
        { tenant: asTenantId('rec'), table: 'connect_sessions', id, bind: { subject: 'u1', integration: 'openai' } },
        { code_verifier: randomBytes(32) },
      );
    await v.db.ds.query(
      `INSERT INTO vault.connect_sessions (id, tenant, integration, subject, created_by, url_hash, state_hash, status, tk_version,
        dek_wrapped, code_verifier_ct, expires_at)
       VALUES ($1, 'rec', 'openai', 'u1', 'admin@rec', $2, $3, 'authorizing', $4, $5, $6, now() + interval '10 minutes')`,
      [id, randomBytes(32), randomBytes(32), sealed.tkVersion, sealed.dekWrapped, sealed.fields.code_verifier],
    );
  });
  afterAll(() => v?.close());

  const versions = async () =>
    (await v.call('GET', '/v1/admin/keys', { token: v.issuer.adminToken('rec') })).body.tenants[0].versions as Array<{
      version: number;
      status: string;
      records: Record<string, number>;
    }>;

  it('every table of SEALED_TABLES is counted, connect sessions and webhook endpoints included', async () => {
    expect(Object.keys((await versions())[0].records).sort()).toEqual([...SEALED_TABLES].sort());
    expect(await versions()).toEqual([
      expect.objectContaining({
        version: 1,
        status: 'active',
        records: { connections: 2, integrations: 0, connect_sessions: 1, webhook_endpoints: 1, derived_tokens: 0, user_logins: 0 },
      }),
    ]);
  });

  it(
    'after a tenant-key rotation the records are counted under the new version and the old one, which the rotation ' +
      'retired, shows none',
    async () => {
      const r = await v.call('POST', '/v1/admin/keys/rotate', { token: v.issuer.adminToken('rec'), body: { target: 'tenant' } });
      expect(r.status).toBe(202);
      expect(await v.vault.app.get(KeyJobRunner).runOnce(r.body.job.id)).toMatchObject({ status: 'succeeded' });
      const after = await versions();
      expect(after.find((k) => k.version === 2)).toMatchObject({
        status: 'active',
        records: { connections: 2, integrations: 0, connect_sessions: 1, webhook_endpoints: 1 },
      });
      expect(after.find((k) => k.version === 1)).toMatchObject({ status: 'destroyed' });
      expect(after.find((k) => k.version === 1)?.records).toEqual({
        connections: 0,
        integrations: 0,
        connect_sessions: 0,
        webhook_endpoints: 0,
        derived_tokens: 0,
        user_logins: 0,
      });
    },
  );
});
