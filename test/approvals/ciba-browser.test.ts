import { Browser, Page } from 'playwright-core';
import { browserAvailable, BrowserWorld, itInBrowserFor, localContext, signIn, startBrowserWorld } from '../support/browser-world';
import { TestProvider } from '../support/oidc-provider';
import { TestVault } from '../support/vault';
import { Receiver, waitFor } from '../webhooks/support';
import { basic, payloadOf, postForm, TestSmtp } from './support';

const itInBrowser = itInBrowserFor('test/approvals/ciba-browser.test.ts');
const T = 'acme';
const CIBA = 'urn:openid:params:grant-type:ciba';

/**
 * Issue 17 §3 end to end, in a real browser (chromium, JavaScript off) through a real OpenID provider
 * (oidc-provider) and a real SMTP server (smtp-server): an agent asks at /oauth2/bc-authorize, the
 * user gets the mail (and the tenant the approval.requested webhook), signs in from the mail's link,
 * approves; the agent polls (pending, slow_down) and gets a token whose release succeeds. Deny,
 * expiry, another user, a replayed form, forged approvals and the audit chain of an approval.
 */
describe('CIBA approvals in the browser', () => {
  let world: BrowserWorld;
  let v: TestVault;
  let provider: TestProvider;
  let smtp: TestSmtp;
  let hooks: Receiver;
  let browser: Browser;
  let page: Page;
  let base: string;
  let secret: string;
  const admin = () => v.issuer.adminToken(T);
  const userToken = (sub = 'alice') => v.issuer.sign({ sub, tid: T, email: `${sub}@example.test` });
  const ask = (params: Record<string, string | undefined> = {}, client = basic('mcp-1', secret)) =>
    postForm(
      `${base}/oauth2/bc-authorize`,
      { scope: 'connections:openai', login_hint_token: userToken(), binding_message: 'Order 4711', ...params },
      client,
    );
  const poll = (authReqId: string, client = basic('mcp-1', secret)) =>
    postForm(`${base}/oauth2/token`, { grant_type: CIBA, auth_req_id: authReqId }, client);
  /** As if the interval had passed since the last poll (no waiting in tests). */
  const intervalPassed = (id: string) =>
    v.db.ds.query(`UPDATE approvals SET last_polled_at = now() - interval '1 hour' WHERE id = $1`, [id]);
  const idOf = async (authReqId: string): Promise<string> =>
    (await v.db.ds.query(`SELECT id FROM approvals WHERE auth_req_hash = sha256(convert_to($1, 'UTF8'))`, [authReqId]))[0].id as string;
  const release = (token: string) => v.call('POST', '/v1/connections/openai/token', { token });
  /** The session's CSRF token, from the account page's forms. */
  const csrfOf = async (p: Page): Promise<string> => {
    const html = await (await p.request.get(`${base}/account`)).text();
    return /name="csrf" value="([^"]+)"/.exec(html)![1];
  };

  beforeAll(async () => {
    if (!browserAvailable) return;
    smtp = await new TestSmtp().start();
    hooks = await new Receiver().start();
    world = await startBrowserWorld({
      tenant: T,
      provider: { mode: 'login' },
      callback: '/auth/callback',
      env: { VAULT_DEFAULT_TENANT: T, WEBHOOKS_IN_PROCESS: 'true', SMTP_URL: smtp.url, SMTP_FROM: 'Credential Vault <vault@example.test>' },
    });
    ({ v, provider, browser, page, base } = world);
    const { put } = world;
    await world.userLogin();
    await put('/v1/admin/tenant', { display_name: 'Acme Travel', logo_url: 'https://cdn.acme.example/logo.png' });
    await put('/v1/admin/integrations/openai', { provider: 'api_key', display_name: 'OpenAI' });
    await put('/v1/admin/integrations/github-key', { provider: 'api_key', display_name: 'GitHub token' });
    secret = (await put('/v1/admin/agents/mcp-1', { name: 'Research assistant', auth_method: 'client_secret_basic' })).client_secret;
    await put('/v1/admin/agents/mcp-2', { name: 'Mail helper', auth_method: 'client_secret_basic' });
    await put('/v1/admin/policies/approve-openai', {
      agents: ['mcp-1', 'mcp-2'],
      integrations: ['openai'],
      effect: 'allow',
      require_approval: true,
      approval_ttl_seconds: 900,
      approvers: 'user',
    });
    await put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-canary-1' });
    hooks.trust('/vault', (await put('/v1/admin/webhooks', { url: `${hooks.url}/vault`, events: ['approval.requested'] })).secret);
  }, 60_000);
  afterAll(async () => {
    await world?.close();
    await smtp?.close();
    await hooks?.close();
  });

  let approvalId = '';
  let cibaToken = '';

  itInBrowser('a release under a require_approval policy without an approval is refused with approval_required and the hint', async () => {
    const r = await release(v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'] }));
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ code: 'approval_required', bc_authorize: `${base}/oauth2/bc-authorize`, scope: 'connections:openai' });
    // A token from another issuer cannot claim an approval: only the vault's own CIBA tokens carry one.
    const forged = v.issuer.agentToken({
      tenant: T,
      user: 'alice',
      agent: 'mcp-1',
      integrations: ['openai'],
      claims: { approval: '00000000-0000-4000-8000-000000000000' },
    });
    expect((await release(forged)).body.code).toBe('approval_required');
  });

  itInBrowser('bc-authorize → mail and webhook → sign in from the link → Approve → polls → token → release', async () => {
    const asked = await ask({ authorization_details: JSON.stringify([{ type: 'payment', amount: '42.00 EUR' }]) });
    expect(asked.status).toBe(200);
    expect(asked.body).toEqual({ auth_req_id: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_in: 900, interval: 5 });
    const authReqId: string = asked.body.auth_req_id;
    approvalId = await idOf(authReqId);

    // Pending, then too fast: slow_down, and the interval grows.
    expect(await poll(authReqId)).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });
    expect(await poll(authReqId)).toMatchObject({ status: 400, body: { error: 'slow_down' } });
    expect((await v.db.ds.query(`SELECT interval_seconds FROM approvals WHERE id = $1`, [approvalId]))[0].interval_seconds).toBe(10);

    const mail = await smtp.next('alice@example.test');
    const url = `${base}/account/approvals/${approvalId}`;
    expect(mail.text).toContain(url);
    expect(mail.text).toContain('Subject: Approve: Research assistant asks to use OpenAI');
    expect(mail.text).toContain('Its message: "Order 4711"');
    expect(mail.raw).not.toContain(authReqId);
    // The tenant's app gets the link too (to relay it to chat or mobile), signed like every webhook.
    const hook = await waitFor('the approval.requested webhook', () => hooks.to('/vault')[0]);
    expect(hook.verified).toBe(true);
    expect(hook.json).toMatchObject({
      type: 'approval.requested',
      tenant: T,
      data: {
        approval_id: approvalId,
        approval_url: url,
        user: 'alice',
        agent: 'mcp-1',
        integrations: 'openai',
        binding_message: 'Order 4711',
      },
    });

    await signIn(page, provider, 'alice', url);
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('Approve Research assistant?');
    // The tenant's name and logo head the page, as on /account and the consent page.
    await expect(page.locator('main > p.eyebrow').first().textContent()).resolves.toBe('Acme Travel');
    await expect(page.locator('main img.logo').getAttribute('src')).resolves.toBe('https://cdn.acme.example/logo.png');
    expect(text).toContain('Get the key of your OpenAI account');
    expect(text).toContain('Order 4711');
    expect(await page.locator('#details').textContent()).toContain('42.00 EUR');
    const csrf = await page.locator(`form[action="/account/approvals/${approvalId}/approve"] input[name=csrf]`).getAttribute('value');
    await page.click('button:has-text("Approve")');
    await expect(page.locator('h1').textContent()).resolves.toBe('Approved');

    // The same form again (a replay, or the Deny button in another tab): refused, nothing changes.
    for (const answer of ['approve', 'deny']) {
      const replay = await page.request.post(`${base}/account/approvals/${approvalId}/${answer}`, {
        form: { csrf: csrf! },
        maxRedirects: 0,
      });
      expect(replay.status()).toBe(409);
    }

    await intervalPassed(approvalId);
    const issued = await poll(authReqId);
    expect(issued.status).toBe(200);
    expect(issued.body).toMatchObject({ token_type: 'Bearer', scope: 'connections:openai' });
    cibaToken = issued.body.access_token;
    const claims = payloadOf(cibaToken);
    expect(claims).toMatchObject({ iss: base, sub: 'alice', tid: T, act: { sub: 'mcp-1' }, approval: approvalId, client_id: 'mcp-1' });
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(900);

    const released = await release(cibaToken);
    expect(released.status).toBe(200);
    expect(released.body.api_key).toBe('sk-alice-canary-1');
    // Used once: a second poll gets nothing.
    await intervalPassed(approvalId);
    expect(await poll(authReqId)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  itInBrowser('GET /v1/admin/audit?approval=<id> returns the chain: request, approval (by whom, how), token, release', async () => {
    const r = await v.call('GET', `/v1/admin/audit?approval=${approvalId}`, { token: admin() });
    expect(r.status).toBe(200);
    const events = [...r.body.events].reverse();
    expect(events.map((e: any) => `${e.action}:${e.outcome}`)).toEqual([
      'approval.request:allowed',
      'approval.approve:allowed',
      'approval.approve:denied',
      'approval.deny:denied',
      'token.ciba:allowed',
      'credential.release:allowed',
      'token.ciba:denied',
    ]);
    const [request, approve, , , token, rel, reused] = events;
    expect(reused).toMatchObject({ reason: 'invalid_grant', agent: 'mcp-1' });
    expect(request).toMatchObject({ agent: 'mcp-1', user: 'alice', integration: 'openai' });
    expect(request.details).toMatchObject({ binding_message: 'Order 4711', details_types: ['payment'], scopes: ['connections:openai'] });
    expect(approve.details).toMatchObject({ approval: approvalId, approver: 'alice', sign_in: 'oidc_session' });
    expect(token.details.jti).toBe(payloadOf(cibaToken).jti);
    expect(rel.details).toMatchObject({ approval: approvalId, jti: payloadOf(cibaToken).jti });
    expect(JSON.stringify(r.body)).not.toContain('sk-alice-canary-1');
    const bad = await v.call('GET', '/v1/admin/audit?approval=not-an-id', { token: admin() });
    expect(bad).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
  });

  itInBrowser('Deny: the agent polls access_denied, and no token is issued', async () => {
    const asked = await ask({ binding_message: 'Deny me' });
    const id = await idOf(asked.body.auth_req_id);
    // The account page lists what waits for an answer, with a link to it (still signed in).
    await page.goto(`${base}/account`);
    await expect(page.locator('#approvals').textContent()).resolves.toContain('Research assistant asks to use openai');
    await Promise.all([page.waitForURL(`${base}/account/approvals/${id}`), page.click(`#approvals a[href="/account/approvals/${id}"]`)]);
    await page.click('button:has-text("Deny")');
    await expect(page.locator('h1').textContent()).resolves.toBe('Denied');
    await intervalPassed(id);
    expect(await poll(asked.body.auth_req_id)).toMatchObject({ status: 400, body: { error: 'access_denied' } });
    const denied = await v.call('GET', `/v1/admin/audit?approval=${id}&action=approval.deny`, { token: admin() });
    expect(denied.body.events).toEqual([expect.objectContaining({ outcome: 'allowed', user: 'alice' })]);
  });

  itInBrowser('expiry: an unanswered request and a spent approval both poll expired_token; the page offers no buttons', async () => {
    const unanswered = await ask({ requested_expiry: '120' });
    expect(unanswered.body.expires_in).toBe(120);
    const id = await idOf(unanswered.body.auth_req_id);
    await v.db.ds.query(`UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    expect(await poll(unanswered.body.auth_req_id)).toMatchObject({ status: 400, body: { error: 'expired_token' } });
    await page.goto(`${base}/account/approvals/${id}`);
    await expect(page.locator('main').textContent()).resolves.toContain('This request has expired');
    expect(await page.locator('button:has-text("Approve")').count()).toBe(0);
    const late = await page.request.post(`${base}/account/approvals/${id}/approve`, {
      form: { csrf: await csrfOf(page) },
      maxRedirects: 0,
    });
    expect(late.status()).toBe(409);

    const approved = await ask();
    const id2 = await idOf(approved.body.auth_req_id);
    await page.goto(`${base}/account/approvals/${id2}`);
    await page.click('button:has-text("Approve")');
    await v.db.ds.query(`UPDATE approvals SET approved_until = now() - interval '1 second' WHERE id = $1`, [id2]);
    await intervalPassed(id2);
    expect(await poll(approved.body.auth_req_id)).toMatchObject({ status: 400, body: { error: 'expired_token' } });
  });

  itInBrowser('another signed-in user opening the link gets a 403 page (audited); their forged answer changes nothing', async () => {
    const asked = await ask();
    const id = await idOf(asked.body.auth_req_id);
    const other = await localContext(browser);
    const bob = await other.newPage();
    await signIn(bob, provider, 'bob', `${base}/account`);
    const opened = await bob.goto(`${base}/account/approvals/${id}`);
    expect(opened?.status()).toBe(403);
    await expect(bob.locator('main').textContent()).resolves.toContain('another person');
    const forged = await bob.request.post(`${base}/account/approvals/${id}/approve`, {
      form: { csrf: await csrfOf(bob) },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    await other.close();
    expect((await v.db.ds.query(`SELECT status FROM approvals WHERE id = $1`, [id]))[0].status).toBe('pending');
    const audit = await v.call('GET', `/v1/admin/audit?approval=${id}&action=approval.view`, { token: admin() });
    expect(audit.body.events).toEqual([
      expect.objectContaining({ outcome: 'denied', reason: 'forbidden', user: 'bob' }),
      expect.objectContaining({ outcome: 'denied', reason: 'forbidden', user: 'bob' }),
    ]);
    // A form without the session's CSRF token is refused before anything is looked at.
    const noCsrf = await page.request.post(`${base}/account/approvals/${id}/approve`, { form: { csrf: 'A'.repeat(43) }, maxRedirects: 0 });
    expect(noCsrf.status()).toBe(403);
    expect((await v.db.ds.query(`SELECT status FROM approvals WHERE id = $1`, [id]))[0].status).toBe('pending');
  });
});
