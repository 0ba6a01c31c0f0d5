import { Page } from 'playwright-core';
import { browserAvailable, BrowserWorld, itInBrowserFor, providerLogin, startBrowserWorld } from '../support/browser-world';
import { TestProvider } from '../support/oidc-provider';
import { TestVault } from '../support/vault';
import { calendarIntegration, T } from './support';

const itInBrowser = itInBrowserFor('test/connect/browser.test.ts');

/**
 * A person in a real browser (Debian's chromium via playwright-core, JavaScript off): the consent
 * page, the authorization server's login and consent, back to the vault connected; the
 * connections page shows it and the agent that used it; Disconnect removes it.
 */
describe('connect an account in a real browser', () => {
  let world: BrowserWorld;
  let v: TestVault;
  let provider: TestProvider;
  let page: Page;
  let base: string;

  beforeAll(async () => {
    if (!browserAvailable) return;
    world = await startBrowserWorld({ tenant: T, provider: { mode: 'google' }, callback: '/oauth/callback' });
    ({ v, provider, page, base } = world);
    const { put } = world;
    await put('/v1/admin/integrations/calendar', {
      ...calendarIntegration(provider, { scope_descriptions: { 'calendar.read': 'See your calendars and events' } }),
      revocation_url: `${provider.url}/token/revocation`,
    });
    await put('/v1/admin/agents/mcp-1', { name: 'Calendar assistant' });
    await put('/v1/admin/policies/p1', { agents: ['mcp-1'], integrations: ['calendar'], effect: 'allow' });
  }, 40_000);
  afterAll(async () => {
    await world?.close();
  });

  itInBrowser('consent page → provider login and consent → back on the connections page, connected', async () => {
    const s = await v.call('POST', '/v1/connect/sessions', {
      token: v.issuer.adminToken(T),
      body: { user: 'alice', integration: 'calendar', expected_identity: { email: 'alice@example.test' } },
    });
    expect(s.status).toBe(201);
    await page.goto(s.body.url);
    // Opening the link does not use it up: Continue does.
    await expect(page.locator('h1').textContent()).resolves.toBe('Connect your Team Calendar account');
    await Promise.all([page.waitForURL(`${base}/connect/s/**`), page.click('button:has-text("Continue")')]);
    await expect(page.locator('h1').textContent()).resolves.toBe('Connect your Team Calendar account');
    await expect(page.locator('main').textContent()).resolves.toContain('See your calendars and events');
    await expect(page.locator('main').textContent()).resolves.toContain('Calendar assistant');
    await expect(page.locator('main').textContent()).resolves.toContain('Sign in as alice@example.test');

    // Keyboard only: Tab to "Connect", Enter.
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'Connect'; i++) {
      await page.keyboard.press('Tab');
      focused =
        (
          await page
            .locator(':focus')
            .textContent({ timeout: 1000 })
            .catch(() => '')
        )?.trim() ?? '';
    }
    expect(focused).toBe('Connect');
    await Promise.all([page.waitForURL(`${provider.url}/**`), page.keyboard.press('Enter')]);

    await providerLogin(page, 'alice', `${base}/connections**`);

    expect(page.url()).toBe(`${base}/connections?connected=calendar`);
    const text = await page.locator('main').textContent();
    expect(text).toContain('Team Calendar is connected.');
    expect(text).toContain('Team Calendar');
    expect(text).toContain('Connected');
    expect(text).toContain('Not yet');
  });

  itInBrowser('an agent releases the token; the page shows who used it; Disconnect revokes and removes it', async () => {
    const release = await v.call('POST', '/v1/connections/calendar/token', {
      token: v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['calendar'] }),
    });
    expect(release.status).toBe(200);
    await page.reload();
    await expect(page.locator('tbody').textContent()).resolves.toContain('Calendar assistant');

    await provider.reset();
    await Promise.all([page.waitForURL(`${base}/connections?disconnected=calendar`), page.click('button:has-text("Disconnect")')]);
    await expect(page.locator('main').textContent()).resolves.toContain('You have not connected any account yet.');
    expect((await provider.stats()).revocation).toBe(1);
    expect(
      (
        await v.call('POST', '/v1/connections/calendar/token', {
          token: v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['calendar'] }),
        })
      ).status,
    ).toBe(404);
  });
});
