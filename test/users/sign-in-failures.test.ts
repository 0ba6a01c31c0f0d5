import { TestProvider } from '../support/oidc-provider';
import { UserAgent } from '../support/oidc-provider/user-agent';
import { ProviderWorld, startProviderWorld } from '../support/provider-world';
import { TestVault } from '../support/vault';

const T = 'acme';

/**
 * Sign-in that does not finish (issue 17 §1, "a user whose IdP sign-in fails → a clear page,
 * nothing changed"): a callback without the flow cookie, with a state that is not the flow's, an
 * injected code, a replayed callback, the person refusing at the provider, and a tenant with no
 * sign-in configured. Each is a 400 page; no session is created; failures at the provider are
 * audited as `user.sign_in` denied.
 */
describe('user sign-in failures', () => {
  let world: ProviderWorld;
  let v: TestVault;
  let provider: TestProvider;
  let base: string;
  const sessions = async () => (await v.db.ds.query(`SELECT count(*)::int AS n FROM user_sessions`))[0].n;

  beforeAll(async () => {
    world = await startProviderWorld({
      tenant: T,
      provider: { mode: 'login' },
      callback: '/auth/callback',
      env: { VAULT_DEFAULT_TENANT: T },
    });
    ({ v, provider, base } = world);
    await world.userLogin();
  }, 60_000);
  afterAll(() => world?.close());

  it('a callback without a flow cookie, or with a made-up one, is a clear 400 page', async () => {
    for (const cookie of [undefined, 'vault_login=abc.def']) {
      const r = await fetch(`${base}/auth/callback?code=x&state=y`, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toContain('text/html');
      expect(await r.text()).toContain('Signing in did not work. Nothing was changed.');
    }
    expect(await sessions()).toBe(0);
  });

  it('a wrong state or an injected code fails at the check, is audited, and the flow is used up', async () => {
    const ua = new UserAgent();
    const start = await ua.get(`${base}/account`);
    expect(start.status).toBe(303);
    const state = new URL(start.location!).searchParams.get('state');
    const wrong = await ua.get(`${base}/auth/callback?code=injected&state=not-${state}&iss=${encodeURIComponent(provider.issuer)}`);
    expect(wrong.status).toBe(400);
    expect(wrong.body).toContain('Signing in did not work');
    // The callback cleared the flow (single use): the right state no longer helps.
    const replay = await ua.get(`${base}/auth/callback?code=injected&state=${state}&iss=${encodeURIComponent(provider.issuer)}`);
    expect(replay.status).toBe(400);

    const ua2 = new UserAgent();
    const start2 = await ua2.get(`${base}/account`);
    const state2 = new URL(start2.location!).searchParams.get('state');
    const injected = await ua2.get(`${base}/auth/callback?code=injected-code&state=${state2}&iss=${encodeURIComponent(provider.issuer)}`);
    expect(injected.status).toBe(400);
    expect(await sessions()).toBe(0);
    const audit = await v.call('GET', '/v1/admin/audit?action=user.sign_in', { token: v.issuer.adminToken(T) });
    expect(audit.body.events.length).toBeGreaterThanOrEqual(2);
    expect(
      audit.body.events.every((e: { outcome: string; reason: string }) => e.outcome === 'denied' && e.reason === 'sign_in_failed'),
    ).toBe(true);
  });

  it('an iss that is not the provider’s (mix-up) is refused', async () => {
    const ua = new UserAgent();
    const start = await ua.get(`${base}/account`);
    const callback = await ua.authorizeAt(start.location!, `${base}/auth/callback`, 'alice');
    const u = new URL(callback);
    u.searchParams.set('iss', 'https://evil.example');
    expect((await ua.get(u.toString())).status).toBe(400);
    expect(await sessions()).toBe(0);
  });

  it('the real flow then works, and its callback cannot be replayed; ended sessions are swept', async () => {
    await v.db.ds.query(
      `INSERT INTO user_sessions (id_hash, tenant, subject, expires_at, revoked_at, last_seen_at) VALUES
         ('\\x01', $1, 'old', now() - interval '1 minute', NULL, now() - interval '1 hour'),
         ('\\x02', $1, 'out', now() + interval '1 hour', now(), now()),
         ('\\x03', $1, 'idle', now() + interval '1 hour', NULL, now() - interval '2 hours')`,
      [T],
    );
    const ua = new UserAgent();
    const start = await ua.get(`${base}/account`);
    const callback = await ua.authorizeAt(start.location!, `${base}/auth/callback`, 'alice');
    const done = await ua.get(callback);
    expect([done.status, done.location]).toEqual([303, `${base}/account`]);
    expect(await sessions()).toBe(1);
    expect((await ua.get(callback)).status).toBe(400);
    expect(await sessions()).toBe(1);
  });

  it('sign-ins under way are bounded per tenant: past the bound, 429 with Retry-After and no new row', async () => {
    await v.db.ds.query(
      `INSERT INTO user_login_flows (id_hash, tenant, state, nonce, return_to, expires_at)
       SELECT sha256(i::text::bytea), $1, 's', 'n', '/account', now() + interval '5 minutes' FROM generate_series(1, 10000) i`,
      [T],
    );
    const before = (await v.db.ds.query(`SELECT count(*)::int AS n FROM user_login_flows`))[0].n;
    const r = await fetch(`${base}/account`, { redirect: 'manual' });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('60');
    expect((await v.db.ds.query(`SELECT count(*)::int AS n FROM user_login_flows`))[0].n).toBe(before);
    await v.db.ds.query(`DELETE FROM user_login_flows WHERE state = 's'`);
    expect((await fetch(`${base}/account`, { redirect: 'manual' })).status).toBe(303);
  });

  it('a tenant without a sign-in configured says so (404 page); connect links do not need one', async () => {
    const r = await fetch(`${base}/t/globex/account`, { redirect: 'manual' });
    expect(r.status).toBe(404);
    expect(await r.text()).toContain('Signing in is not set up');
  });
});
