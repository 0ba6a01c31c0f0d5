import { createSession, openConsent, Rig, startRig } from './support';

/**
 * Every sentence on the consent page is true for the integration shown (issue 20 item 2): an
 * OAuth page may say agents get an access token and never the refresh token; an API-key page
 * must say agents get the key itself, and nothing about short-lived access tokens.
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
    rig = await startRig({ mode: 'google' });
    await rig.v.call('PUT', '/v1/admin/integrations/search', {
      token: rig.admin(),
      body: { provider: 'api_key', display_name: 'Search API', return_urls: ['https://app.test.example/settings/'] },
    });
    await rig.v.call('PUT', '/v1/admin/policies/search', {
      token: rig.admin(),
      body: { agents: ['mcp-1'], integrations: ['search'], effect: 'allow' },
    });
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
});
