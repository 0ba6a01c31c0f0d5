import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, BrowserContext, Page } from 'playwright-core';
import { calendarIntegration } from '../connect/support';
import { browserAvailable, itInBrowserFor, launchChromium, localContext } from '../support/browser-world';
import { TestProvider } from '../support/oidc-provider';
import { parseForm, UserAgent } from '../support/oidc-provider/user-agent';
import { ProviderWorld, startProviderWorld } from '../support/provider-world';
import { startTestVault, TestVault } from '../support/vault';

const itInBrowser = itInBrowserFor('the browser parts of test/ops/dashboard.test.ts');

const T = 'acme';
const OTHER = 'globex';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const v = await probe();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The operator dashboard on a real vault, with data made through the real API and real code: API-key
 * connections, OAuth connections through a real authorization server whose refreshes then fail
 * (a refused grant and an outage: the vault's own refresher writes those audit rows), releases
 * allowed and denied, a tenant-key rotation, and another tenant whose data must never show.
 */
describe('operator dashboard', () => {
  let world: ProviderWorld;
  let v: TestVault;
  let provider: TestProvider;
  let base: string;
  const admin = () => v.issuer.adminToken(T);

  beforeAll(async () => {
    world = await startProviderWorld({
      tenant: T,
      provider: { mode: 'google' },
      callback: '/oauth/callback',
      env: { KEY_JOBS_IN_PROCESS: 'true', KEY_ROTATION_RETIRE_DELAY_MS: '0' },
    });
    ({ v, provider, base } = world);
    const put = (tenant: string, path: string, body: unknown) => world.put(path, body, tenant);
    await put(T, '/v1/admin/integrations/openai', { provider: 'api_key', display_name: 'OpenAI' });
    await put(T, '/v1/admin/integrations/calendar', calendarIntegration(provider));
    await put(T, '/v1/admin/agents/mcp-1', { name: 'Assistant' });
    await put(T, '/v1/admin/agents/rogue', { name: 'Not allowed' });
    await put(T, '/v1/admin/policies/p1', { agents: ['mcp-1'], integrations: ['openai', 'calendar'], effect: 'allow' });
    for (const user of ['alice', 'bob', 'carol']) await put(T, `/v1/admin/connections/openai/users/${user}`, { api_key: `sk-${user}-123` });
    // A second integration of the same provider type: the page counts by integration, not provider.
    await put(T, '/v1/admin/integrations/anthropic', { provider: 'api_key', display_name: 'Anthropic' });
    await put(T, '/v1/admin/connections/anthropic/users/alice', { api_key: 'sk-alice-456' });

    // Two OAuth connections through the real flow (over HTTP), then their refreshes fail for real.
    for (const user of ['dave', 'erin']) await connect(user);
    const release = (user: string, agent: string, integration: string) =>
      v.call('POST', `/v1/connections/${integration}/token`, {
        token: v.issuer.agentToken({ tenant: T, user, agent, integrations: [integration] }),
      });
    const expire = (user: string) =>
      v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second' WHERE subject = $1`, [user]);
    await expire('dave');
    await provider.faults({ next: [{ status: 400, body: { error: 'invalid_grant', error_description: 'grant revoked' } }] });
    expect((await release('dave', 'mcp-1', 'calendar')).status).toBe(409);
    await expire('erin');
    await provider.faults({ next: [{ status: 503, body: { error: 'temporarily_unavailable' } }] });
    expect((await release('erin', 'mcp-1', 'calendar')).status).toBe(503);

    expect((await release('alice', 'mcp-1', 'openai')).status).toBe(200);
    expect((await release('alice', 'mcp-1', 'openai')).status).toBe(200);
    expect((await release('bob', 'mcp-1', 'openai')).status).toBe(200);
    expect((await release('carol', 'rogue', 'openai')).status).toBe(403);

    // A finished tenant-key rotation, so the key section has two versions and a job.
    const rotate = await v.call('POST', '/v1/admin/keys/rotate', { token: admin(), body: { target: 'tenant' } });
    expect(rotate.status).toBe(202);
    await waitFor('the rotation', async () =>
      (await v.call('GET', `/v1/admin/keys/jobs/${rotate.body.job.id}`, { token: admin() })).body.status === 'succeeded' ? true : undefined,
    );

    // Another tenant, with names that must never appear on acme's page.
    await put(OTHER, '/v1/admin/integrations/globex-secret-int', { provider: 'api_key', display_name: 'Globex' });
    await put(OTHER, '/v1/admin/agents/globex-agent', { name: 'G' });
    await put(OTHER, '/v1/admin/policies/gp', { agents: ['globex-agent'], integrations: ['globex-secret-int'], effect: 'allow' });
    await put(OTHER, '/v1/admin/connections/globex-secret-int/users/mallory', { api_key: 'sk-globex-999' });
    for (let i = 0; i < 3; i++) {
      const r = await v.call('POST', '/v1/connections/globex-secret-int/token', {
        token: v.issuer.agentToken({ tenant: OTHER, user: 'mallory', agent: 'globex-agent', integrations: ['globex-secret-int'] }),
      });
      expect(r.status).toBe(200);
    }

    // Refusals for the security view: an unverifiable token (no tenant: `_unauthenticated`), an acme
    // agent token at the admin API (acme, verified issuer), a globex one (globex), and failed client
    // authentication at the token endpoint by a client nobody can be sure of (unattributed).
    const forged = admin().slice(0, -4) + 'AAAA';
    for (let i = 0; i < 2; i++) expect((await v.call('GET', '/v1/admin/agents', { token: forged })).status).toBe(401);
    expect(
      (
        await v.call('GET', '/v1/admin/agents', {
          token: v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'] }),
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await v.call('GET', '/v1/admin/agents', {
          token: v.issuer.agentToken({ tenant: OTHER, user: 'mallory', agent: 'globex-agent', integrations: ['globex-secret-int'] }),
        })
      ).status,
    ).toBe(403);
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${base}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: 'x.y.z',
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          scope: 'connections:openai',
          client_id: 'ghost-client',
          client_assertion_type: 'bogus',
          client_assertion: 'a',
        }).toString(),
      });
      expect([r.status, await r.text()]).toEqual([401, expect.stringContaining('invalid_client')]);
    }
  }, 120_000);

  afterAll(() => world?.close());

  async function connect(user: string): Promise<void> {
    const ua = new UserAgent();
    const s = await v.call('POST', '/v1/connect/sessions', { token: admin(), body: { user, integration: 'calendar' } });
    expect(s.status).toBe(201);
    const opened = await ua.get(s.body.url);
    const claim = await ua.post(s.body.url, parseForm(opened.body, /\/connect\//)!.fields);
    const page = await ua.get(claim.location!);
    const form = parseForm(page.body, /\/authorize$/)!;
    const authorize = await ua.post(new URL(form.action, base).toString(), form.fields);
    const callback = await ua.authorizeAt(authorize.location!, `${base}/oauth/callback`, user);
    expect((await ua.get(callback)).status).toBe(303);
  }

  describe('who may see it', () => {
    it('without a token: 401, the sign-in form, a Bearer challenge, no-store and a CSP without script', async () => {
      const r = await fetch(`${base}/dashboard`);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('content-type')).toContain('text/html');
      const csp = r.headers.get('content-security-policy')!;
      expect(csp).toMatch(/default-src 'none'/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(csp).not.toMatch(/script-src|unsafe-inline/);
      const body = await r.text();
      expect(body).toContain('action="/dashboard/session"');
      expect(body).not.toMatch(/<script|globex|alice/i);
    });

    it('a user token or an agent token: 403; an unverifiable token: 401; none of them sees a figure', async () => {
      const user = v.issuer.sign({ sub: 'alice', tid: T, scope: 'openid' });
      const agent = v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'] });
      const forged = admin().slice(0, -4) + 'AAAA';
      for (const [token, status] of [
        [user, 403],
        [agent, 403],
        [forged, 401],
      ] as const) {
        const r = await v.call('GET', '/dashboard', { token });
        expect([token === forged, r.status]).toEqual([token === forged, status]);
        expect(r.text).not.toMatch(/data-figure|alice|openai/);
      }
      // The same tokens as a session cookie fare no better.
      for (const token of [user, agent]) {
        const r = await fetch(`${base}/dashboard`, { headers: { cookie: `vault_dashboard=${token}` } });
        expect(r.status).toBe(403);
      }
    });

    it('an admin token in the Authorization header sees its own tenant only', async () => {
      const r = await v.call('GET', '/dashboard', { token: admin() });
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.text).toContain('Tenant acme');
      expect(r.text).not.toMatch(/globex|mallory|sk-/);
      const other = await v.call('GET', '/dashboard', { token: v.issuer.adminToken(OTHER) });
      expect(other.status).toBe(200);
      expect(other.text).toContain('globex-secret-int');
      expect(other.text).not.toMatch(/alice|bob|carol|dave|erin|rogue|openai|calendar/);
      expect(/data-figure="refresh-failures">(\d+)</.exec(other.text)![1]).toBe('0');
      expect(/data-figure="releases-allowed">(\d+)</.exec(other.text)![1]).toBe('3');
    });

    /** Refused tokens of one tenant as its admin reads them through the audit API (the rejection sink's records carry a route). */
    type Refusal = { reason: string; details: { route?: string; issuer: string | null } };
    async function refusalsOf(tenant: string): Promise<Refusal[]> {
      const out: Refusal[] = [];
      for (const action of ['admin.access', 'credential.release']) {
        const r = await v.call('GET', `/v1/admin/audit?action=${action}&outcome=denied&limit=200`, { token: v.issuer.adminToken(tenant) });
        out.push(...(r.body.events as Refusal[]).filter((e) => e.details.route));
      }
      return out;
    }
    const figureOf = (text: string, name: string) => new RegExp(`data-figure="${name}"[^>]*>([^<]*)<`).exec(text)?.[1];
    const cellOf = (text: string, attr: string, key: string) =>
      Number(new RegExp(`data-${attr}="${key.replace(/[.()/]/g, '\\$&')}">(\\d+)<`).exec(text)?.[1] ?? 0);
    /** The admin-change rows as "action target by [tenant]". */
    const changesOf = (text: string) =>
      [...text.matchAll(/<tr data-admin-change="[a-z_.]+">([^]*?)<\/tr>/g)].map((m) =>
        [...m[1].matchAll(/<td>(?:<code[^>]*>)?([^<]*)/g)]
          .slice(1)
          .map((c) => c[1])
          .join(' '),
      );

    it("security view: a tenant admin sees its own refused tokens and admin changes, never other tenants' or unattributed ones", async () => {
      const r = await v.call('GET', '/dashboard', { token: admin() });
      expect(r.status).toBe(200);
      expect(figureOf(r.text, 'security-scope')).toBe('Covers this tenant.');
      const mine = await refusalsOf(T);
      // The acme agent token refused at the admin API, and the 403s of the tests above.
      expect(mine.filter((e) => e.reason === 'not_a_user_token').length).toBeGreaterThanOrEqual(1);
      expect(figureOf(r.text, 'refused-tokens')).toBe(String(mine.length));
      for (const reason of new Set(mine.map((e) => e.reason))) {
        expect(cellOf(r.text, 'refusal-reason', reason)).toBe(mine.filter((e) => e.reason === reason).length);
      }
      expect(cellOf(r.text, 'refusal-issuer', v.issuer.issuer)).toBe(mine.filter((e) => e.details.issuer === v.issuer.issuer).length);
      // Nothing unattributed (forged tokens, the ghost client) and nothing of globex.
      expect(r.text).not.toMatch(/not verified|invalid_token"|ghost-client|globex|mallory/);
      expect(figureOf(r.text, 'invalid-client')).toBe('0');
      // Admin changes: what, of what, by whom; newest first (the rotation was the last).
      const changes = changesOf(r.text);
      expect(changes[0]).toMatch(/^key\./);
      expect(changes).toEqual(
        expect.arrayContaining([
          'agent.put mcp-1 admin@acme',
          'agent.put rogue admin@acme',
          'policy.put p1 admin@acme',
          'integration.put openai admin@acme',
          'integration.put calendar admin@acme',
          'key.rotate tenant admin@acme',
        ]),
      );
      expect(figureOf(r.text, 'tenant-key-version')).toBe('v2');
      expect(figureOf(r.text, 'kek-version')).toMatch(/^[0-9a-f]{32}$/);
    });

    it(
      "security view: an operator (vault:operator) sees every tenant's refused tokens and the unattributed ones, " +
        'by reason, issuer and client',
      async () => {
        const operator = v.issuer.sign({ sub: 'ops@vault', tid: T, scope: 'vault:admin vault:operator' });
        const r = await v.call('GET', '/dashboard', { token: operator });
        expect(r.status).toBe(200);
        expect(figureOf(r.text, 'security-scope')).toMatch(/every tenant/);
        const attributed = [...(await refusalsOf(T)), ...(await refusalsOf(OTHER))];
        // Unattributed: the two forged tokens at the admin API and the earlier tests' unverifiable ones.
        const unattributed = Number(figureOf(r.text, 'refused-tokens')) - attributed.length;
        expect(unattributed).toBeGreaterThanOrEqual(2);
        expect(cellOf(r.text, 'refusal-issuer', '(not verified)')).toBe(unattributed);
        expect(cellOf(r.text, 'refusal-reason', 'invalid_token')).toBeGreaterThanOrEqual(2);
        const notUser = attributed.filter((e) => e.reason === 'not_a_user_token').length;
        expect(notUser).toBeGreaterThanOrEqual(2);
        expect(cellOf(r.text, 'refusal-reason', 'not_a_user_token')).toBe(notUser);
        expect(figureOf(r.text, 'invalid-client')).toBe('3');
        expect(cellOf(r.text, 'invalid-client', 'ghost-client')).toBe(3);
        // Other tenants' admin changes too, with their tenant named.
        expect(changesOf(r.text)).toEqual(
          expect.arrayContaining(['agent.put globex-agent admin@globex globex', 'agent.put mcp-1 admin@acme acme']),
        );
      },
    );

    it(
      "signing in needs the page's CSRF token, the vault's origin and an admin token; the cookie is " +
        'HttpOnly, Strict, scoped to /dashboard',
      async () => {
        const ua = new UserAgent();
        const page = await ua.get(`${base}/dashboard`);
        const form = parseForm(page.body, /\/dashboard\/session$/)!;
        expect(form.fields.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
        const post = (fields: Record<string, string>, headers?: Record<string, string>) =>
          ua.post(`${base}/dashboard/session`, fields, headers);

        expect((await post({ token: admin() })).status).toBe(403); // no CSRF token
        expect((await post({ token: admin(), csrf: form.fields.csrf }, { origin: 'https://evil.example' })).status).toBe(403);
        // another browser
        expect((await new UserAgent().post(`${base}/dashboard/session`, { token: admin(), csrf: form.fields.csrf })).status).toBe(403);
        const agent = await post({
          token: v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'] }),
          csrf: form.fields.csrf,
        });
        expect(agent.status).toBe(403);
        expect(agent.headers.getSetCookie().some((c) => c.startsWith('vault_dashboard='))).toBe(false);
        expect(ua.cookies(base).has('vault_dashboard')).toBe(false);

        const ok = await post({ token: admin(), csrf: form.fields.csrf });
        expect(ok.status).toBe(303);
        expect(ok.location).toBe(`${base}/dashboard`);
        const cookie = ok.headers.getSetCookie().find((c) => c.startsWith('vault_dashboard='))!;
        expect(cookie).toMatch(/; Path=\/dashboard; HttpOnly; SameSite=Strict; Max-Age=(\d+)$/);
        expect(Number(/Max-Age=(\d+)/.exec(cookie)![1])).toBeLessThanOrEqual(300); // no longer than the token lives
        expect((await ua.get(`${base}/dashboard`)).status).toBe(200);
        // The API does not take the cookie: only the Authorization header.
        expect((await ua.get(`${base}/v1/admin/audit`)).status).toBe(401);

        const signedIn = parseForm((await ua.get(`${base}/dashboard`)).body, /\/session\/end$/)!;
        expect((await ua.post(`${base}/dashboard/session/end`, { csrf: signedIn.fields.csrf })).status).toBe(303);
        expect((await ua.get(`${base}/dashboard`)).status).toBe(401);
      },
    );
  });

  describe('in a real browser (JavaScript off)', () => {
    let browser: Browser | undefined;
    let context: BrowserContext;
    let page: Page;
    const requests: string[] = [];

    beforeAll(async () => {
      if (!browserAvailable) return;
      browser = await launchChromium();
      context = await localContext(browser);
      // Every request the pages make, also the ones refused: the last test checks none leaves the vault's origin.
      context.on('request', (r) => requests.push(r.url()));
      page = await context.newPage();
      await page.setViewportSize({ width: 1280, height: 900 });
    }, 30_000);
    afterAll(() => browser?.close());

    itInBrowser('signs in with the form, keyboard only', async () => {
      const first = await page.goto(`${base}/dashboard`);
      expect(first!.status()).toBe(401);
      await expect(page.locator('h1').textContent()).resolves.toBe('Operator dashboard');
      // The token field has focus (autofocus); type, Tab to "Sign in", Enter.
      let focused = '';
      for (let i = 0; i < 5 && focused !== 'token'; i++) {
        focused =
          (await page
            .locator(':focus')
            .getAttribute('name', { timeout: 1000 })
            .catch(() => '')) ?? '';
        if (focused !== 'token') await page.keyboard.press('Tab');
      }
      expect(focused).toBe('token');
      await page.keyboard.type(admin());
      await page.keyboard.press('Tab');
      await expect(page.locator(':focus').textContent()).resolves.toBe('Sign in');
      await Promise.all([page.waitForURL(`${base}/dashboard`), page.keyboard.press('Enter')]);
      await expect(page.locator('h1').textContent()).resolves.toBe('Operator dashboard');
      await expect(page.locator('.eyebrow').first().textContent()).resolves.toContain('Tenant acme');
    });

    itInBrowser('shows figures that match the data, a chart with bars, and nothing of the other tenant', async () => {
      await page.reload();
      const cell = (integration: string, status: string) =>
        page.locator(`td[data-integration="${integration}"][data-status="${status}"]`).textContent();
      await expect(cell('openai', 'active')).resolves.toBe('3');
      await expect(cell('anthropic', 'active')).resolves.toBe('1');
      await expect(cell('calendar', 'active')).resolves.toBe('1');
      await expect(cell('calendar', 'needs_reauth')).resolves.toBe('1');
      await expect(cell('*', 'total')).resolves.toBe('6');

      const figure = (name: string) => page.locator(`[data-figure="${name}"]`).textContent();
      await expect(figure('refresh-failures')).resolves.toBe('2');
      const bars = page.locator('svg.chart rect.bar');
      await expect(bars.count()).resolves.toBeGreaterThan(0);
      const counts = await bars.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-count'))));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(2);
      await expect(page.locator('svg.chart').getAttribute('role')).resolves.toBe('img');
      // Readable labels: hour ticks say what they are, and render at 11 px or more once the chart is scaled into its card.
      const ticks = await page.locator('svg.chart text.tick').allTextContents();
      expect(ticks[0]).toMatch(/^\d\d:00$/);
      const tickPx = await page
        .locator('svg.chart text.tick')
        .first()
        .evaluate((t) => {
          const svg = (t as any).ownerSVGElement;
          return (
            parseFloat((globalThis as any).getComputedStyle(t).fontSize) * (svg.getBoundingClientRect().width / svg.viewBox.baseVal.width)
          );
        });
      expect(tickPx).toBeGreaterThanOrEqual(11);

      // Releases: what the audit API says, and what we did.
      const audit = (await v.call('GET', '/v1/admin/audit?action=credential.release&limit=200', { token: admin() })).body.events as Array<{
        outcome: string;
      }>;
      const count = (o: string) => String(audit.filter((e) => e.outcome === o).length);
      await expect(figure('releases-allowed')).resolves.toBe(count('allowed'));
      await expect(figure('releases-denied')).resolves.toBe(count('denied'));
      expect(Number(count('allowed'))).toBe(3);
      await expect(page.locator('tr[data-outcome="denied"]').filter({ hasText: 'rogue' }).count()).resolves.toBe(1);
      await expect(page.locator('tr[data-outcome="allowed"]').filter({ hasText: 'alice' }).count()).resolves.toBe(2);

      // Keys: the rotation moved every record onto v2 and destroyed v1.
      const keys = (await v.call('GET', '/v1/admin/keys', { token: admin() })).body;
      const mine = keys.tenants.find((t: { tenant: string }) => t.tenant === T);
      await expect(figure('active-key')).resolves.toBe(`v${mine.active_version}`);
      expect(mine.active_version).toBe(2);
      await expect(figure('on-active')).resolves.toBe('100%');
      const v2 = mine.versions.find((x: { version: number }) => x.version === 2);
      await expect(page.locator('[data-key-records="2"]').textContent()).resolves.toBe(
        String(Object.values(v2.records as Record<string, number>).reduce((a, b) => a + b, 0)),
      );
      await expect(page.locator('[data-key-version="1"]').textContent()).resolves.toBe('destroyed');
      await expect(page.locator('[data-job-status]').first().textContent()).resolves.toBe('succeeded');
      await expect(page.locator('[data-job-progress]').first().textContent()).resolves.toBe('100%');

      const text = (await page.locator('body').textContent())!;
      expect(text).not.toMatch(/globex|mallory|sk-/);
    });

    itInBrowser("keyboard focus reaches the skip link, sign-out and the chart's table, visibly", async () => {
      await page.reload();
      const seen: string[] = [];
      for (let i = 0; i < 6; i++) {
        await page.keyboard.press('Tab');
        const el = page.locator(':focus');
        const label = ((await el.textContent({ timeout: 1000 }).catch(() => '')) ?? '').trim();
        seen.push(label);
        if (label === 'As a table') {
          const outline = await el.evaluate((e) => (globalThis as any).getComputedStyle(e).outlineStyle as string);
          expect(outline).toBe('solid');
          await page.keyboard.press('Enter');
          break;
        }
      }
      expect(seen.slice(0, 3)).toEqual(['Skip to the figures', 'Sign out', 'As a table']);
      await expect(page.locator('details').getAttribute('open')).resolves.toBe('');
      await expect(page.locator('details tbody td').first().textContent()).resolves.toBe('2');
    });

    itInBrowser('security section: figures shown, codes never broken mid-word (even on a phone), and a screenshot of it', async () => {
      await page.reload();
      const section = page.locator('section[aria-labelledby="sec-h"]');
      await expect(section.locator('[data-figure="refused-tokens"]').textContent()).resolves.toMatch(/^[1-9]\d*$/);
      await expect(section.locator('[data-refusal-reason="not_a_user_token"]').count()).resolves.toBe(1);
      await expect(section.locator('tr[data-admin-change]').count()).resolves.toBeGreaterThanOrEqual(6);
      // Every code (reason codes, actions, integration names) stays on one line, at a desktop and a phone width.
      const broken = () =>
        page
          .locator('main code')
          .evaluateAll((els) =>
            els
              .filter(
                (e) =>
                  e.getClientRects().length > 1 ||
                  e.getBoundingClientRect().height > 2 * parseFloat((globalThis as any).getComputedStyle(e).fontSize),
              )
              .map((e) => e.textContent),
          );
      await expect(broken()).resolves.toEqual([]);
      await page.setViewportSize({ width: 390, height: 900 });
      try {
        await expect(broken()).resolves.toEqual([]);
      } finally {
        await page.setViewportSize({ width: 1280, height: 900 });
      }
      const path = join(tmpdir(), `vault-dashboard-security-${process.pid}.png`);
      await section.screenshot({ path });
      const png = readFileSync(path);
      expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
      expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
      expect(png.readUInt32BE(16)).toBeGreaterThan(300);
      expect(png.readUInt32BE(20)).toBeGreaterThan(300);
      expect(statSync(path).size).toBeGreaterThan(10_000);
    });

    itInBrowser('loads nothing from another origin and saves a screenshot', async () => {
      expect(requests.length).toBeGreaterThan(0);
      for (const url of requests) expect(new URL(url).origin).toBe(base);
      const path = join(tmpdir(), `vault-dashboard-${process.pid}.png`);
      await page.screenshot({ path, fullPage: true });
      const png = readFileSync(path);
      expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
      expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
      expect(png.readUInt32BE(16)).toBe(1280);
      expect(png.readUInt32BE(20)).toBeGreaterThan(600);
      expect(statSync(path).size).toBeGreaterThan(20_000);
    });
  });
});

/**
 * SECURITY 29 on the dashboard: the admin API's limits (per client IP before the token is even
 * looked at, per admin once it is verified), answered with a 429 page and `Retry-After`.
 */
describe('operator dashboard: rate limits', () => {
  let v: TestVault;
  const page = (token?: string) => v.call('GET', '/dashboard', { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const expectLimited = (r: { status: number; headers: Headers; text: string }) => {
    expect(r.status).toBe(429);
    expect(r.headers.get('content-type')).toContain('text/html');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(r.text).toContain('Too many requests');
  };

  beforeAll(async () => {
    v = await startTestVault({ RATE_LIMIT_WINDOW_SECONDS: '60', RATE_LIMIT_ADMIN_PER_IP: '8', RATE_LIMIT_ADMIN_PER_CALLER: '3' });
  });
  afterAll(() => v?.close());

  it('per admin: the fourth page view of one admin is refused; another admin of the tenant still has a budget', async () => {
    const admin = v.issuer.adminToken(T);
    for (let i = 0; i < 3; i++) expect((await page(admin)).status).toBe(200);
    expectLimited(await page(admin));
    expect((await page(v.issuer.sign({ sub: 'second-admin@acme', tid: T, scope: 'vault:admin' }))).status).toBe(200);
  });

  it('per IP: before any token is checked, for the page and the sign-in form alike; counted in the metrics', async () => {
    // Five requests from 127.0.0.1 so far; the budget is eight.
    for (let i = 0; i < 3; i++) expect((await page()).status).toBe(401);
    expectLimited(await page());
    expectLimited(await page(v.issuer.sign({ sub: 'third-admin@acme', tid: T, scope: 'vault:admin' })));
    expectLimited(
      await v.call('POST', '/dashboard/session', {
        raw: 'token=guess&csrf=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );
    const metrics = (await v.call('GET', '/metrics')).text;
    expect(metrics).toMatch(/^vault_rate_limited_total\{route_group="dashboard",limiter="ip"\} [1-9]/m);
    expect(metrics).toMatch(/^vault_rate_limited_total\{route_group="dashboard",limiter="caller"\} 1$/m);
  });
});
