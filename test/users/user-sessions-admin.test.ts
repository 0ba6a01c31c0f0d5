import { TestProvider } from '../support/oidc-provider';
import { UserAgent } from '../support/oidc-provider/user-agent';
import { ProviderWorld, startProviderWorld } from '../support/provider-world';
import { TestVault } from '../support/vault';

const T = 'acme';

/**
 * Issue 17 leftovers: the roles a sign-in carried are kept with the session and shown on
 * /account (they do not feed policy); an admin lists a person's live sessions and ends them all
 * (`GET/DELETE /v1/admin/users/{subject}/sessions`), effective on the very next request, audited
 * as `user.sessions_revoke`; other people's sessions and other tenants' are untouched.
 */
describe('admin: user sessions; roles on /account', () => {
  let world: ProviderWorld;
  let v: TestVault;
  let provider: TestProvider;
  let base: string;
  const admin = (tenant = T) => v.issuer.adminToken(tenant);

  /** Signs `login` in over HTTP; returns the user agent holding the session cookie. */
  async function signIn(login: string): Promise<UserAgent> {
    const ua = new UserAgent();
    const start = await ua.get(`${base}/account`);
    expect(start.status).toBe(303);
    const callback = await ua.authorizeAt(start.location!, `${base}/auth/callback`, login);
    const done = await ua.get(callback);
    expect(done.status).toBe(303);
    expect(done.location).toBe(`${base}/account`);
    return ua;
  }

  beforeAll(async () => {
    world = await startProviderWorld({
      tenant: T,
      provider: { mode: 'login', roles: { alice: ['travel-booker', 'finance<reader>'] } },
      callback: '/auth/callback',
      env: { VAULT_DEFAULT_TENANT: T },
    });
    ({ v, provider, base } = world);
    await world.userLogin({ roles_claim: 'roles' });
  }, 60_000);
  afterAll(() => world?.close());

  it('/account names the tenant and shows the sign-in roles (escaped), saying they do not decide what agents may do', async () => {
    const put = await v.call('PUT', '/v1/admin/tenant', { token: admin(), body: { display_name: 'Acme Travel' } });
    expect(put.status).toBe(201);
    const alice = await signIn('alice');
    const page = await alice.get(`${base}/account`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<p class="eyebrow">Acme Travel</p><p class="eyebrow">Signed in as alice@example.test</p>');
    expect(page.body).toContain('Your roles at sign-in: <code>travel-booker</code>, <code>finance&lt;reader&gt;</code>.');
    expect(page.body).toContain('what an agent may do for you is decided by the roles in the token the app presents for you');
    const bob = await signIn('bob');
    expect((await bob.get(`${base}/account`)).body).not.toContain('Your roles at sign-in');
  });

  it('lists live sessions of one subject (no cookie, no hash), and ends them all at once: the next request is signed out', async () => {
    const a1 = await signIn('alice');
    const a2 = await signIn('alice');
    const bob = await signIn('bob');
    const list = await v.call('GET', '/v1/admin/users/alice/sessions', { token: admin() });
    expect(list.status).toBe(200);
    // Three live ones: the first test's and these two.
    expect(list.body.subject).toBe('alice');
    expect(list.body.sessions).toHaveLength(3);
    for (const s of list.body.sessions) {
      expect(Object.keys(s).sort()).toEqual(['created_at', 'email', 'expires_at', 'idle_expires_at', 'last_seen_at', 'roles']);
      expect(s).toMatchObject({ email: 'alice@example.test', roles: ['travel-booker', 'finance<reader>'] });
      expect(new Date(s.idle_expires_at).getTime()).toBeLessThanOrEqual(new Date(s.expires_at).getTime());
    }
    expect(JSON.stringify(list.body)).not.toMatch(/id_hash|cookie/);
    // Another tenant's admin sees none of them.
    expect((await v.call('GET', '/v1/admin/users/alice/sessions', { token: admin('other') })).body.sessions).toEqual([]);

    expect((await a1.get(`${base}/account`)).status).toBe(200);
    const del = await v.call('DELETE', '/v1/admin/users/alice/sessions', { token: admin() });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ subject: 'alice', revoked: 3 });

    // Immediately: both of alice's browsers are sent to sign in again; bob is still signed in.
    for (const ua of [a1, a2]) {
      const r = await ua.get(`${base}/account`);
      expect(r.status).toBe(303);
      expect(r.location).toContain(provider.url);
    }
    expect((await bob.get(`${base}/account`)).status).toBe(200);
    expect((await v.call('GET', '/v1/admin/users/alice/sessions', { token: admin() })).body.sessions).toEqual([]);
    expect((await v.call('GET', '/v1/admin/users/bob/sessions', { token: admin() })).body.sessions).toHaveLength(2);

    const audit = await v.call('GET', '/v1/admin/audit?action=user.sessions_revoke', { token: admin() });
    expect(audit.body.events).toHaveLength(1);
    expect(audit.body.events[0]).toMatchObject({ outcome: 'allowed', user: 'alice', details: { revoked: 3 } });
    const dashboard = await v.call('GET', '/dashboard', { token: admin() });
    expect(dashboard.text).toMatch(/<tr data-admin-change="user\.sessions_revoke">[^]*?alice[^]*?admin@acme/);
    // A second revoke finds nothing to end, and says so.
    expect((await v.call('DELETE', '/v1/admin/users/alice/sessions', { token: admin() })).body).toEqual({ subject: 'alice', revoked: 0 });
  });

  it('needs vault:admin; a subject with control characters is a 400 naming it', async () => {
    const agent = v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['x'] });
    expect((await v.call('GET', '/v1/admin/users/alice/sessions', { token: agent })).status).toBe(403);
    expect((await v.call('DELETE', '/v1/admin/users/alice/sessions', {})).status).toBe(401);
    const bad = await v.call('DELETE', `/v1/admin/users/${encodeURIComponent('al\nice')}/sessions`, { token: admin() });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'subject' }] });
  });
});
