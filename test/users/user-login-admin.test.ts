import { startTestVault, TestVault } from '../support/vault';

/**
 * PUT/GET /v1/admin/user-login (issue 17 §1, CONTRACT.md): the tenant's OpenID provider for people
 * signing in to /account. The client secret is write-only and stored sealed (no plaintext in the
 * database, bound to the IdP it was given for), bad input is a 400 naming the field, the issuer must
 * be https except for a loopback provider outside production (the production half: libs/users/issuer-rules.spec.ts), and tenants do not see each other's.
 */
describe('user-login admin API', () => {
  let v: TestVault;
  const SECRET = 'canary-user-login-secret-7f3a9c';
  const good = {
    issuer: 'http://127.0.0.1:9/oidc',
    client_id: 'vault-users',
    client_secret: SECRET,
    scopes: ['openid', 'email', 'profile'],
    subject_claim: 'sub',
    roles_claim: 'roles',
  };

  beforeAll(async () => {
    v = await startTestVault({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1' });
  }, 60_000);
  afterAll(async () => {
    await v?.close();
  });

  it('PUT stores it (201, then 200), GET shows it without the secret; the secret is sealed in the database', async () => {
    const put = await v.call('PUT', '/v1/admin/user-login', { token: v.issuer.adminToken('acme'), body: good });
    expect(put.status).toBe(201);
    expect(put.text).not.toContain(SECRET);
    expect(put.body).toMatchObject({
      issuer: good.issuer,
      client_id: 'vault-users',
      scopes: ['openid', 'email', 'profile'],
      subject_claim: 'sub',
      roles_claim: 'roles',
    });
    expect(put.body).not.toHaveProperty('client_secret');
    const again = await v.call('PUT', '/v1/admin/user-login', {
      token: v.issuer.adminToken('acme'),
      body: { ...good, roles_claim: 'groups' },
    });
    expect(again.status).toBe(200);
    const get = await v.call('GET', '/v1/admin/user-login', { token: v.issuer.adminToken('acme') });
    expect(get.status).toBe(200);
    expect(get.body).toMatchObject({ issuer: good.issuer, client_id: 'vault-users', roles_claim: 'groups' });
    expect(get.text).not.toContain(SECRET);
    const rows = await v.db.ds.query(`SELECT * FROM user_logins WHERE tenant = 'acme'`);
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(SECRET);
    expect(Buffer.concat([rows[0].client_secret_ct, rows[0].dek_wrapped]).includes(Buffer.from(SECRET))).toBe(false);
    const audit = await v.call('GET', '/v1/admin/audit?action=user_login.configure', { token: v.issuer.adminToken('acme') });
    expect(audit.body.events).toHaveLength(2);
    expect(audit.text).not.toContain(SECRET);
  });

  it('another tenant sees none (404)', async () => {
    const r = await v.call('GET', '/v1/admin/user-login', { token: v.issuer.adminToken('globex') });
    expect(r.status).toBe(404);
  });

  it.each([
    ['issuer', { issuer: 'not a url' }],
    ['issuer', { issuer: 'http://login.example.com' }],
    ['issuer', { issuer: 'https://user:pw@login.example.com' }],
    ['issuer', { issuer: 'https://10.1.2.3/oidc' }],
    ['issuer', { issuer: 'https://login.example.com/?x=1' }],
    ['scopes', { scopes: ['email'] }],
    ['scopes', { scopes: ['openid', 'has space'] }],
    ['subject_claim', { subject_claim: 'bad claim!' }],
    ['roles_claim', { roles_claim: 'x y' }],
    ['client_secret', { client_secret: 42 }],
    ['client_id', { client_id: undefined }],
  ])('bad %s → 400 naming it, nothing stored', async (field, patch) => {
    const token = v.issuer.adminToken('initech');
    const r = await v.call('PUT', '/v1/admin/user-login', { token, body: { ...good, ...patch } });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(JSON.stringify(r.body.errors)).toContain(field);
    expect(r.text).not.toContain(SECRET);
    expect((await v.call('GET', '/v1/admin/user-login', { token })).status).toBe(404);
  });

  it('unknown fields → 400', async () => {
    const r = await v.call('PUT', '/v1/admin/user-login', { token: v.issuer.adminToken('initech'), body: { ...good, tenant: 'acme' } });
    expect(r.status).toBe(400);
  });

  it('an agent token (with act) cannot configure it', async () => {
    const r = await v.call('PUT', '/v1/admin/user-login', {
      token: v.issuer.sign({ sub: 'alice', tid: 'acme', act: { sub: 'a1' }, scope: 'vault:admin' }),
      body: good,
    });
    expect(r.status).toBe(403);
  });
});
