import { Browser, BrowserContext, Page } from 'playwright-core';
import {
  browserAvailable,
  BrowserWorld,
  itInBrowserFor,
  localContext,
  providerLogin,
  signIn,
  startBrowserWorld,
} from '../support/browser-world';
import { TestProvider } from '../support/oidc-provider';
import { TestVault } from '../support/vault';

const itInBrowser = itInBrowserFor('test/users/account-browser.test.ts');
const T = 'acme';

/**
 * Issue 17 §1–2 in a real browser (Debian's chromium, JavaScript off) through a real OpenID
 * provider (oidc-provider): a person signs in to /account with openid-client (code + PKCE + state +
 * nonce + iss), sees their connections and no one else's, turns one agent off (a release by that
 * agent is then refused with policy_denied, another agent's is not) and on again, disconnects after
 * a confirmation page, and signs out. Forged forms (no or wrong CSRF token) and a session past its
 * idle timeout are refused.
 */
describe('users sign in and control agents on /account', () => {
  let world: BrowserWorld;
  let v: TestVault;
  let provider: TestProvider;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  const release = (agent: string, user = 'alice', integration = 'openai') =>
    v.call('POST', `/v1/connections/${integration}/token`, {
      token: v.issuer.agentToken({ tenant: T, user, agent, integrations: [integration] }),
    });
  const sessionCookie = async () => (await context.cookies(base)).find((c) => c.name.startsWith('vault_user_'));

  beforeAll(async () => {
    if (!browserAvailable) return;
    world = await startBrowserWorld({
      tenant: T,
      provider: { mode: 'login' },
      callback: '/auth/callback',
      env: { VAULT_DEFAULT_TENANT: T },
    });
    ({ v, provider, browser, context, page, base } = world);
    const { put } = world;
    await world.userLogin({ scopes: ['openid', 'email', 'profile'] });
    await put('/v1/admin/integrations/openai', { provider: 'api_key', display_name: 'OpenAI' });
    await put('/v1/admin/integrations/github-key', { provider: 'api_key', display_name: 'GitHub token' });
    await put('/v1/admin/agents/mcp-1', { name: 'Research assistant' });
    await put('/v1/admin/agents/mcp-2', { name: 'Mail helper' });
    await put('/v1/admin/policies/p1', { agents: ['mcp-1', 'mcp-2'], integrations: ['openai', 'github-key'], effect: 'allow' });
    await put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-canary-1' });
    await put('/v1/admin/connections/github-key/users/bob', { api_key: 'ghp-bob-canary-2' });
  }, 60_000);
  afterAll(async () => {
    await world?.close();
  });

  itInBrowser('sign in through the OpenID provider → /account lists her connection, agents and nothing of bob', async () => {
    await Promise.all([page.waitForURL(`${provider.url}/**`), page.goto(`${base}/account`)]);
    const authorize = (await provider.stats()).authorize.at(-1)!;
    expect(authorize).toMatchObject({ code_challenge_method: 'S256', response_type: 'code', redirect_uri: `${base}/auth/callback` });
    expect(authorize.state).toBeTruthy();
    expect(authorize.nonce).toBeTruthy();
    await providerLogin(page, 'alice', `${base}/account`);

    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('Signed in as alice@example.test');
    expect(text).toContain('OpenAI');
    expect(text).toContain('Research assistant');
    expect(text).toContain('Mail helper');
    expect(text).not.toContain('GitHub token');
    expect(text).not.toContain('github-key');
    const cookie = (await sessionCookie())!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    expect(await v.db.ds.query(`SELECT subject FROM user_sessions WHERE revoked_at IS NULL`)).toEqual([{ subject: 'alice' }]);
  });

  itInBrowser(
    'turning an agent off refuses its releases with policy_denied (audited grant.revoke by alice); on again restores them',
    async () => {
      expect((await release('mcp-1')).status).toBe(200);
      const mcp1 = page.locator('section[data-integration="openai"] li[data-agent="mcp-1"]');
      await Promise.all([page.waitForURL(`${base}/account?notice=off`), mcp1.locator('button:has-text("Turn off")').click()]);
      await expect(mcp1.locator('.state').textContent()).resolves.toBe('Off');

      const refused = await release('mcp-1');
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe('policy_denied');
      expect((await release('mcp-2')).status).toBe(200);
      const audit = await v.call('GET', '/v1/admin/audit?action=grant.revoke', { token: v.issuer.adminToken(T) });
      expect(audit.body.events).toEqual([
        expect.objectContaining({ user: 'alice', agent: 'mcp-1', integration: 'openai', outcome: 'allowed' }),
      ]);
      const denial = await v.call('GET', '/v1/admin/audit?action=credential.release&outcome=denied&agent=mcp-1', {
        token: v.issuer.adminToken(T),
      });
      expect(denial.body.events[0]).toMatchObject({ reason: 'policy_denied', user: 'alice' });

      await Promise.all([page.waitForURL(`${base}/account?notice=on`), mcp1.locator('button:has-text("Turn on")').click()]);
      await expect(mcp1.locator('.state').textContent()).resolves.toBe('On');
      expect((await release('mcp-1')).status).toBe(200);
      const restore = await v.call('GET', '/v1/admin/audit?action=grant.restore', { token: v.issuer.adminToken(T) });
      expect(restore.body.events).toEqual([expect.objectContaining({ user: 'alice', agent: 'mcp-1', integration: 'openai' })]);
      // Recent activity in plain words (names, not ids), the audit action kept as the cell's title.
      const activity = (await page.locator('#activity tbody').textContent()) ?? '';
      expect(activity).toContain('Research assistant used your OpenAI connection');
      expect(activity).toContain('Mail helper used your OpenAI connection');
      expect(activity).toContain('Refused: Research assistant was not allowed to use your OpenAI connection');
      expect(activity).toContain('You turned Research assistant off for OpenAI');
      expect(activity).toContain('You turned Research assistant back on for OpenAI');
      expect(activity).toContain('You signed in');
      expect(activity).toContain('Your OpenAI account was connected');
      expect(activity).not.toMatch(/\b(credential\.release|grant\.revoke|policy_denied|mcp-1)\b/);
      const refusal = page.locator('#activity tr[data-action="credential.release"][data-outcome="denied"] td[title]');
      await expect(refusal.getAttribute('title')).resolves.toBe('credential.release (policy_denied)');
    },
  );

  itInBrowser('forms without the right CSRF token are refused and change nothing', async () => {
    const action = `${base}/account/connections/openai/agents/mcp-1/off`;
    for (const form of [{ note: 'no token' }, { csrf: 'A'.repeat(43) }] as Array<Record<string, string>>) {
      const r = await page.request.post(action, { form, maxRedirects: 0 });
      expect(r.status()).toBe(403);
    }
    // The right token from another origin is refused too.
    const csrf = await page.locator(`form[action="/account/connections/openai/agents/mcp-1/off"] input[name=csrf]`).getAttribute('value');
    const cross = await page.request.post(action, { form: { csrf: csrf! }, headers: { origin: 'https://evil.example' }, maxRedirects: 0 });
    expect(cross.status()).toBe(403);
    expect(await v.db.ds.query(`SELECT * FROM user_agent_denies`)).toEqual([]);
    expect((await release('mcp-1')).status).toBe(200);
  });

  itInBrowser('bob cannot switch an agent off on alice’s connection through his own session', async () => {
    // A session row for bob (as his own sign-in would make), used from outside the browser.
    const other = await localContext(browser);
    const p2 = await other.newPage();
    await signIn(p2, provider, 'bob', `${base}/t/${T}/account`, 'x');
    const text = (await p2.locator('main').textContent()) ?? '';
    expect(text).toContain('GitHub token');
    expect(text).not.toContain('OpenAI');
    const csrf = await p2.locator('form input[name=csrf]').first().getAttribute('value');
    const r = await p2.request.post(`${base}/t/${T}/account/connections/openai/agents/mcp-1/off`, {
      form: { csrf: csrf! },
      maxRedirects: 0,
    });
    expect(r.status()).toBe(404);
    expect((await release('mcp-1')).status).toBe(200);
    await other.close();
  });

  itInBrowser('disconnect asks first, then removes the connection', async () => {
    await Promise.all([page.waitForURL(`${base}/account/connections/openai/disconnect`), page.click('a:has-text("Disconnect")')]);
    await expect(page.locator('h1').textContent()).resolves.toBe('Disconnect OpenAI?');
    expect((await release('mcp-2')).status).toBe(200); // nothing happened on GET
    await Promise.all([page.waitForURL(`${base}/account?notice=disconnected`), page.click('button:has-text("Disconnect")')]);
    await expect(page.locator('main').textContent()).resolves.toContain('You have not connected any account yet.');
    expect((await release('mcp-2')).status).toBe(404);
  });

  itInBrowser('a session past its idle timeout is refused; sign-out revokes the session', async () => {
    const cookie = (await sessionCookie())!;
    const asAlice = (path: string) =>
      fetch(`${base}${path}`, { headers: { cookie: `${cookie.name}=${cookie.value}` }, redirect: 'manual' });
    expect((await asAlice('/account')).status).toBe(200);

    await v.db.ds.query(`UPDATE user_sessions SET last_seen_at = now() - interval '31 minutes' WHERE subject = 'alice'`);
    const idle = await asAlice('/account');
    expect(idle.status).toBe(303);
    expect(idle.headers.get('location')).toMatch(new RegExp(`^${provider.url}/`));
    await v.db.ds.query(`UPDATE user_sessions SET last_seen_at = now() WHERE subject = 'alice'`);

    await page.goto(`${base}/account`);
    await page.click('button:has-text("Sign out")');
    await expect(page.locator('h1').textContent()).resolves.toBe('Signed out');
    expect(await sessionCookie()).toBeUndefined();
    const after = await asAlice('/account');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(new RegExp(`^${provider.url}/`));
  });
});
