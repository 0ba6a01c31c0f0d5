import { KeyJobRunner } from '../../libs/keys';
import { WebhookDispatcher } from '../../libs/webhooks';
import { startTestVault, TestVault } from '../support/vault';
import { DRIVEN, outboxOf, Receiver, verifiesWith } from './support';

/**
 * PUT/GET/DELETE /v1/admin/webhooks and POST /v1/admin/webhooks/test (an addition to CONTRACT.md):
 * the secret shown once and stored sealed, field-naming problem documents, audit records without
 * the URL's path or the secret, tenant isolation, SSRF refusal unless allowlisted, and the sealed
 * secret surviving a tenant-key rotation.
 */
describe('webhook endpoint admin API', () => {
  let strict: TestVault; // no OUTBOUND_ALLOW_HOSTS: loopback and private addresses refused
  let v: TestVault; // 127.0.0.1 allowlisted (the receiver runs there)
  let receiver: Receiver;
  const T = 'acme';
  const admin = (tenant = T) => v.issuer.adminToken(tenant);

  beforeAll(async () => {
    receiver = await new Receiver().start();
    [strict, v] = await Promise.all([
      startTestVault({ WEBHOOKS_IN_PROCESS: 'false' }),
      startTestVault({ ...DRIVEN, KEY_ROTATION_RETIRE_DELAY_MS: '0' }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([strict?.close(), v?.close()]);
    await receiver?.close();
  });

  it.each([
    ['http://127.0.0.1:8080/hook'],
    ['https://127.0.0.1/hook'],
    ['https://169.254.169.254/latest/meta-data/'],
    ['https://[::ffff:127.0.0.1]/hook'],
    ['https://10.1.2.3/hook'],
    ['https://[::1]/hook'],
    ['http://93.184.216.34/hook'],
  ])('SSRF: %s is refused (400 naming url) unless allowlisted', async (url) => {
    const r = await strict.call('PUT', '/v1/admin/webhooks', { token: strict.issuer.adminToken(T), body: { url, events: ['*'] } });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(r.body).toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'url', message: expect.stringMatching(/private|https/) }],
    });
    expect(r.text).not.toContain(url);
    expect((await strict.call('GET', '/v1/admin/webhooks', { token: strict.issuer.adminToken(T) })).status).toBe(404);
  });

  it('a public https address is accepted without an allowlist; loopback with one', async () => {
    const pub = await strict.call('PUT', '/v1/admin/webhooks', {
      token: strict.issuer.adminToken(T),
      body: { url: 'https://93.184.216.34/hooks/vault', events: ['connection.needs_reauth'] },
    });
    expect(pub.status).toBe(201);
    const local = await v.call('PUT', '/v1/admin/webhooks', { token: admin(), body: { url: `${receiver.url}/hooks/acme`, events: ['*'] } });
    expect(local.status).toBe(201);
  });

  it.each([
    [{ url: 'https://93.184.216.34/h', events: ['connection.bogus'] }, 'events'],
    [{ url: 'https://93.184.216.34/h', events: [] }, 'events'],
    [{ url: 'https://93.184.216.34/h' }, 'events'],
    [{ events: ['*'] }, 'url'],
    [{ url: 'not a url', events: ['*'] }, 'url'],
    [{ url: 'ftp://93.184.216.34/h', events: ['*'] }, 'url'],
    [{ url: 'https://user:pw@93.184.216.34/h', events: ['*'] }, 'url'],
    [{ url: 'https://93.184.216.34/h', events: ['*'], secret: 'mine' }, 'secret'],
  ])('invalid %j → 400 naming %s', async (body, field) => {
    const r = await v.call('PUT', '/v1/admin/webhooks', { token: admin('t-invalid'), body });
    expect(r.status).toBe(400);
    expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(r.text).not.toContain('pw@');
  });

  it('admins only', async () => {
    const agent = v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: [] });
    for (const [method, path] of [
      ['GET', '/v1/admin/webhooks'],
      ['PUT', '/v1/admin/webhooks'],
      ['DELETE', '/v1/admin/webhooks'],
      ['POST', '/v1/admin/webhooks/test'],
    ]) {
      expect([401, 403]).toContain(
        (await v.call(method, path, { token: agent, body: method === 'PUT' ? { url: `${receiver.url}/x`, events: ['*'] } : undefined }))
          .status,
      );
      expect((await v.call(method, path)).status).toBe(401);
    }
  });

  it('the secret is shown once (no-store), stored sealed, replaced by each PUT; GET never shows it; tenants are isolated', async () => {
    const tenant = 't-life';
    const url = `${receiver.url}/hooks/${tenant}?token=url-canary`;
    const first = await v.call('PUT', '/v1/admin/webhooks', {
      token: admin(tenant),
      body: { url, events: ['connection.needs_reauth', 'connection.needs_reauth', 'connection.created'] },
    });
    expect(first.status).toBe(201);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.body).toEqual({
      url,
      events: ['connection.needs_reauth', 'connection.created'],
      enabled: true,
      created_at: expect.any(String),
      updated_at: expect.any(String),
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    const [row] = await v.db.ds.query(`SELECT secret_ct, dek_wrapped, tk_version FROM vault.webhook_endpoints WHERE tenant = $1`, [tenant]);
    expect(row.tk_version).toBe(1);
    for (const form of [first.body.secret, first.body.secret.slice(6), Buffer.from(first.body.secret.slice(6), 'base64').toString('hex')]) {
      expect(row.secret_ct.toString('latin1').includes(form) || row.secret_ct.toString('hex').includes(form)).toBe(false);
    }

    const get = await v.call('GET', '/v1/admin/webhooks', { token: admin(tenant) });
    expect(get.status).toBe(200);
    expect(get.body).toEqual({
      url,
      events: ['connection.needs_reauth', 'connection.created'],
      enabled: true,
      created_at: first.body.created_at,
      updated_at: expect.any(String),
    });
    expect(get.text).not.toContain(first.body.secret.slice(6));
    expect((await v.call('GET', '/v1/admin/webhooks', { token: admin('t-other') })).status).toBe(404);

    const second = await v.call('PUT', '/v1/admin/webhooks', { token: admin(tenant), body: { url, events: ['*'] } });
    expect(second.status).toBe(200);
    expect(second.body.secret).not.toBe(first.body.secret);

    // Deliveries are signed with the current secret only: the replaced one no longer verifies.
    receiver.trust(`/hooks/${tenant}?token=url-canary`, second.body.secret);
    expect((await v.call('POST', '/v1/admin/webhooks/test', { token: admin(tenant) })).status).toBe(202);
    await v.vault.app.get(WebhookDispatcher).tick();
    const got = receiver.to(`/hooks/${tenant}?token=url-canary`);
    expect(got.map((g) => g.verified)).toEqual([true]);
    expect(verifiesWith(first.body.secret, got[0])).toBe(false);

    expect((await v.call('DELETE', '/v1/admin/webhooks', { token: admin(tenant) })).status).toBe(204);
    expect((await v.call('GET', '/v1/admin/webhooks', { token: admin(tenant) })).status).toBe(404);
    expect((await v.call('DELETE', '/v1/admin/webhooks', { token: admin(tenant) })).status).toBe(404);
    const test = await v.call('POST', '/v1/admin/webhooks/test', { token: admin(tenant) });
    expect(test.status).toBe(404);
    expect(test.headers.get('content-type')).toMatch(/application\/problem\+json/);

    const audit = await v.db.ds.query(
      `SELECT action, outcome, details FROM vault.audit_events WHERE tenant = $1 AND action LIKE 'webhook.%' ORDER BY seq`,
      [tenant],
    );
    expect(audit.map((a: any) => a.action)).toEqual(['webhook.configure', 'webhook.configure', 'webhook.test', 'webhook.delete']);
    expect(audit[0].details).toMatchObject({ host: '127.0.0.1', events: ['connection.needs_reauth', 'connection.created'], created: true });
    const text = JSON.stringify(audit);
    for (const leak of ['url-canary', '/hooks/', first.body.secret.slice(6), second.body.secret.slice(6)]) expect(text).not.toContain(leak);
  });

  it('a delivery is signed with the current secret, also after a tenant-key rotation rewrapped it and destroyed the old key', async () => {
    const tenant = 't-rotate';
    const put = await v.call('PUT', '/v1/admin/webhooks', {
      token: admin(tenant),
      body: { url: `${receiver.url}/hooks/${tenant}`, events: ['*'] },
    });
    receiver.trust(`/hooks/${tenant}`, put.body.secret);
    const rotate = await v.call('POST', '/v1/admin/keys/rotate', { token: admin(tenant), body: { target: 'tenant' } });
    expect(rotate.status).toBe(202);
    expect(await v.vault.app.get(KeyJobRunner).runOnce(rotate.body.job.id)).toMatchObject({ status: 'succeeded' });
    expect(await v.db.ds.query(`SELECT version, status FROM vault.tenant_keys WHERE tenant = $1 ORDER BY version`, [tenant])).toEqual([
      { version: 1, status: 'destroyed' },
      { version: 2, status: 'active' },
    ]);
    expect(await v.db.ds.query(`SELECT tk_version FROM vault.webhook_endpoints WHERE tenant = $1`, [tenant])).toEqual([{ tk_version: 2 }]);

    expect((await v.call('POST', '/v1/admin/webhooks/test', { token: admin(tenant) })).status).toBe(202);
    await v.vault.app.get(WebhookDispatcher).tick();
    expect(receiver.to(`/hooks/${tenant}`).map((r) => r.verified)).toEqual([true]);
    expect((await outboxOf(v, tenant)).map((r) => r.status)).toEqual(['delivered']);
  });
});
