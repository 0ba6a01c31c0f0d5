import { Page, Request } from 'playwright-core';
import { browserAvailable, BrowserWorld, itInBrowserFor, providerLogin, startBrowserWorld } from '../support/browser-world';
import { TestProvider } from '../support/oidc-provider';
import { TestVault } from '../support/vault';
import { calendarIntegration, T } from './support';

const itInBrowser = itInBrowserFor('test/connect/tenant-browser.test.ts');

const LOGO = 'https://logo.acme.example/brand/logo.png';
// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/**
 * Issue 20 item 3 in a real browser (Debian's chromium, JavaScript off): the link and consent
 * pages show the tenant's display name and logo, say whom the link is for, and the browser fetches
 * the logo from its host without a referrer (the consent URL carries a session id); an image from
 * any other origin is blocked by the page's CSP before it is requested. After connecting, the
 * connections page names the provider account.
 */
describe('tenant name, logo and the user on the consent page, in a browser', () => {
  let world: BrowserWorld;
  let v: TestVault;
  let provider: TestProvider;
  let page: Page;
  let base: string;
  const logoRequests: Request[] = [];
  const otherImageRequests: string[] = [];

  beforeAll(async () => {
    if (!browserAvailable) return;
    world = await startBrowserWorld({
      tenant: T,
      provider: { mode: 'google' },
      callback: '/oauth/callback',
      // The logo host is answered here; anything else off this machine is refused (and recorded if it is an image).
      offHost: async (route) => {
        const req = route.request();
        if (req.url() === LOGO) {
          logoRequests.push(req);
          return route.fulfill({ status: 200, contentType: 'image/png', body: PNG });
        }
        if (req.resourceType() === 'image') otherImageRequests.push(req.url());
        return route.abort();
      },
    });
    ({ v, provider, page, base } = world);
    const { put } = world;
    await put('/v1/admin/integrations/calendar', calendarIntegration(provider));
    await put('/v1/admin/agents/mcp-1', { name: 'Calendar assistant' });
    await put('/v1/admin/policies/p1', { agents: ['mcp-1'], integrations: ['calendar'], effect: 'allow' });
    await put('/v1/admin/tenant', { display_name: 'Acme <Travel>', logo_url: LOGO });
  }, 60_000);
  afterAll(async () => {
    await world?.close();
  });

  itInBrowser('link and consent pages: display name (escaped), logo fetched without referrer, the user named', async () => {
    const s = await v.call('POST', '/v1/connect/sessions', {
      token: v.issuer.adminToken(T),
      body: { user: 'olga', integration: 'calendar', user_display_name: 'Olga <i>Smith</i>' },
    });
    expect(s.status).toBe(201);
    await page.goto(s.body.url);
    await expect(page.locator('main').textContent()).resolves.toContain('Acme <Travel> asks you to connect your Team Calendar account');
    expect(logoRequests).toHaveLength(1);

    await Promise.all([page.waitForURL(`${base}/connect/s/**`), page.click('button:has-text("Continue")')]);
    const main = (await page.locator('main').textContent())!.replace(/\s+/g, ' ');
    expect(main).toContain('requested by Acme <Travel>');
    expect(main).toContain('This link is for Olga <i>Smith</i> (user olga) of Acme <Travel>. If that is not you, press Cancel.');
    // Escaped: no element came from the names.
    await expect(page.locator('main i').count()).resolves.toBe(0);
    const logo = page.locator('img.logo');
    await expect(logo.getAttribute('referrerpolicy')).resolves.toBe('no-referrer');
    // Rendered at its CSS size (a broken image would have no box of that height).
    const box = await logo.boundingBox();
    expect(box?.height).toBeGreaterThan(0);
    expect(logoRequests).toHaveLength(2);
    for (const r of logoRequests) {
      const headers = await r.allHeaders();
      expect(headers.referer).toBeUndefined();
    }
    expect(logoRequests[1].frame().url()).toContain('/connect/s/');
    expect(otherImageRequests).toEqual([]);
  });

  itInBrowser('the CSP admits the logo origin only: an image from elsewhere on the page is never requested', async () => {
    // The CSP a consent page is served with, on a page that also names a foreign image (as injected markup would): only the logo loads.
    const s = await v.call('POST', '/v1/connect/sessions', {
      token: v.issuer.adminToken(T),
      body: { user: 'olga', integration: 'calendar' },
    });
    const res = await page.context().request.get(s.body.url);
    const csp = res.headers()['content-security-policy'];
    expect(csp).toContain("img-src 'self' https://logo.acme.example;");
    await page.route(`${base}/__probe`, (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/html',
        headers: { 'content-security-policy': csp },
        body: `<img src="https://tracker.example/pixel.png"><img src="${LOGO}">`,
      }),
    );
    const before = logoRequests.length;
    await page.goto(`${base}/__probe`);
    await page.waitForLoadState('load');
    expect(logoRequests.length).toBe(before + 1);
    expect(otherImageRequests).toEqual([]);
  });

  itInBrowser('after connecting as olga, the connections page names the provider account', async () => {
    await page.goto(base); // leave the probe
    const s = await v.call('POST', '/v1/connect/sessions', {
      token: v.issuer.adminToken(T),
      body: { user: 'olga', integration: 'calendar' },
    });
    await page.goto(s.body.url);
    await Promise.all([page.waitForURL(`${base}/connect/s/**`), page.click('button:has-text("Continue")')]);
    await Promise.all([page.waitForURL(`${provider.url}/**`), page.click('button:has-text("Connect")')]);
    await providerLogin(page, 'olga', `${base}/connections**`);
    const row = (await page.locator('tbody tr').first().textContent())!.replace(/\s+/g, ' ');
    expect(row).toContain('Team Calendar');
    expect(row).toContain('account olga@example.test');
  });
});
