import { createSession, openConsent, PUBLIC, Rig, startRig, T } from './support';

/**
 * Every sentence on the consent page is true for the integration shown (issue 20 item 2): an
 * OAuth page may say agents get an access token and never the refresh token; an API-key page
 * must say agents get the key itself, and nothing about short-lived access tokens. Both say who
 * asks (the tenant's display name, issue 20 item 3) and whom the link is for, and offer the Cancel
 * the sentence tells a wrong person to press; the connections page names a provider account only
 * where the vault learned one (OAuth sign-in), never for an API key.
 */
describe('consent page wording per integration type', () => {
  let rig: Rig;
  /** The page's visible text: tags and attributes (e.g. `type="password"`) are not sentences. */
  const text = (page: string) =>
    page
      .replace(/<style[\s\S]*?<\/style>/g, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ');

  beforeAll(async () => {
    // The rig's tenant is the one /connections and /account serve without a /t/{tenant} prefix.
    rig = await startRig({ mode: 'google', env: { VAULT_DEFAULT_TENANT: T } });
    await rig.v.call('PUT', '/v1/admin/integrations/search', {
      token: rig.admin(),
      body: { provider: 'api_key', display_name: 'Search API', return_urls: ['https://app.test.example/settings/'] },
    });
    await rig.v.call('PUT', '/v1/admin/policies/search', {
      token: rig.admin(),
      body: { agents: ['mcp-1'], integrations: ['search'], effect: 'allow' },
    });
    await rig.v.call('PUT', '/v1/admin/tenant', { token: rig.admin(), body: { display_name: 'Acme Travel' } });
  });
  afterAll(() => rig?.close());

  it('OAuth: agents receive an access token for the account, never the password or refresh token', async () => {
    const page = text((await openConsent(rig.browser(), (await createSession(rig, 'olga')).url)).page);
    expect(page).toContain('Agents receive only an access token for your');
    expect(page).toContain('never your password or the refresh token the vault keeps');
    expect(page).not.toMatch(/API key/i);
  });

  it('API key: agents receive the key itself; no sentence about access tokens, refresh tokens or passwords', async () => {
    const page = text((await openConsent(rig.browser(), (await createSession(rig, 'pete', { integration: 'search' })).url)).page);
    expect(page).toContain('Agents receive this API key itself when they act for you');
    expect(page).toContain('handed only to agents that policy allows');
    expect(page).not.toMatch(/access token|refresh token|short-lived access|password/i);
  });

  it.each([
    ['OAuth', 'calendar', 'Connect'],
    ['API key', 'search', 'Save key'],
  ])(
    '%s: says who asks and whom the link is for, and has the Cancel button it tells a wrong person to press',
    async (_kind, integration, action) => {
      const c = await openConsent(rig.browser(), (await createSession(rig, 'quinn', { integration, user_display_name: 'Quinn Q' })).url);
      const page = text(c.page);
      expect(page).toContain('requested by Acme Travel');
      expect(page).not.toMatch(/requested by acme\b/);
      expect(page).toContain('This link is for Quinn Q (user quinn ) of Acme Travel. If that is not you, press Cancel.');
      expect(c.page).toContain('<button type="submit">Cancel</button>');
      expect(c.page).toContain(`>${action}</button>`);
    },
  );

  it('connections page: an API key connection names no provider account (the vault learned none)', async () => {
    const ua = rig.browser();
    const c = await openConsent(ua, (await createSession(rig, 'rita', { integration: 'search' })).url);
    const saved = await ua.post(`${PUBLIC}/connect/s/${c.sessionId}/api-key`, { csrf: c.csrf, api_key: 'sk-rita-1' });
    expect(saved.status).toBe(303);
    const page = await ua.get(`${PUBLIC}/connections`);
    expect(page.status).toBe(200);
    expect(text(page.body)).toContain('Search API');
    expect(text(page.body)).not.toMatch(/\baccount [^ ]/);
  });

  it('/connections without a session: the connect link when people cannot sign in, /account once they can', async () => {
    const before = await rig.browser().get(`${PUBLIC}/connections`);
    expect(before.status).toBe(403);
    expect(text(before.body)).toContain('Open the connect link the app gave you to see your connections here.');
    expect(before.body).not.toContain('href="/account"');
    const configured = await rig.v.call('PUT', '/v1/admin/user-login', {
      token: rig.admin(),
      body: { issuer: rig.provider.issuer, client_id: 'vault-users', client_secret: 'user-login-secret' },
    });
    expect(configured.status).toBeLessThan(300);
    const after = await rig.browser().get(`${PUBLIC}/connections`);
    expect(after.status).toBe(403);
    expect(text(after.body)).toContain('Sign in to your account to see your connections.');
    expect(after.body).toContain('<a class="button" href="/account">Sign in</a>');
    expect(text(after.body)).not.toContain('Not allowed');
  });
});
