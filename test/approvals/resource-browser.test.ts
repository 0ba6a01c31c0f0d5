import { Page } from 'playwright-core';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from '../../libs/token-service';
import { browserAvailable, BrowserWorld, itInBrowserFor, signIn, startBrowserWorld } from '../support/browser-world';
import { TestProvider } from '../support/oidc-provider';
import { TestVault } from '../support/vault';
import { basic, payloadOf, postForm, TestSmtp } from './support';

const itInBrowser = itInBrowserFor('test/approvals/resource-browser.test.ts');
const T = 'acme';
const CIBA = 'urn:openid:params:grant-type:ciba';
const CRM = 'https://crm.internal.example.com';

/**
 * Issue 19 §1 × issue 17: a resource scope with `require_approval` goes through CIBA. The agent asks
 * at /oauth2/bc-authorize with `resource=<identifier>`; the user signs in (real OpenID provider, real
 * chromium) and sees the resource and its scopes in plain words; once approved the poll answers an
 * RFC 9068 token for the resource (aud = identifier) with the approval claim. Deny is access_denied;
 * a scope without require_approval still comes by plain token exchange.
 */
describe('CIBA approvals for resource scopes', () => {
  let world: BrowserWorld;
  let v: TestVault;
  let provider: TestProvider;
  let smtp: TestSmtp;
  let page: Page;
  let base: string;
  let secret: string;
  let secret2: string;
  const admin = () => v.issuer.adminToken(T);
  const userToken = (roles = ['crm-admin']) => v.issuer.sign({ sub: 'alice', tid: T, roles, email: 'alice@example.test' });
  const ask = (params: Record<string, string | undefined> = {}, client = basic('mcp-1', secret)) =>
    postForm(
      `${base}/oauth2/bc-authorize`,
      { resource: CRM, scope: 'crm:delete', login_hint_token: userToken(), binding_message: 'Purge lead 17', ...params },
      client,
    );
  const poll = (authReqId: string) =>
    postForm(`${base}/oauth2/token`, { grant_type: CIBA, auth_req_id: authReqId }, basic('mcp-1', secret));
  const idOf = async (authReqId: string): Promise<string> =>
    (await v.db.ds.query(`SELECT id FROM approvals WHERE auth_req_hash = sha256(convert_to($1, 'UTF8'))`, [authReqId]))[0].id as string;
  const exchange = (scope: string) =>
    postForm(
      `${base}/oauth2/token`,
      {
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: userToken(),
        subject_token_type: TOKEN_TYPES.accessToken,
        scope,
        resource: CRM,
      },
      basic('mcp-1', secret),
    );

  beforeAll(async () => {
    if (!browserAvailable) return;
    smtp = await new TestSmtp().start();
    world = await startBrowserWorld({
      tenant: T,
      provider: { mode: 'login' },
      callback: '/auth/callback',
      env: { VAULT_DEFAULT_TENANT: T, SMTP_URL: smtp.url, SMTP_FROM: 'Credential Vault <vault@example.test>' },
    });
    ({ v, provider, page, base } = world);
    const { put } = world;
    await world.userLogin();
    secret = (await put('/v1/admin/agents/mcp-1', { name: 'Research assistant', auth_method: 'client_secret_basic' })).client_secret;
    secret2 = (await put('/v1/admin/agents/mcp-2', { name: 'Other', auth_method: 'client_secret_basic' })).client_secret;
    await put('/v1/admin/resources/crm', {
      identifier: CRM,
      display_name: 'Customer CRM',
      scopes: {
        'crm:read': { description: 'Read customer records', roles_any: ['analyst', 'crm-admin'] },
        'crm:delete': { description: 'Delete customer records', roles_any: ['crm-admin'], require_approval: true },
      },
      token_ttl_seconds: 120,
      agents: ['mcp-1'],
    });
  }, 60_000);
  afterAll(async () => {
    await world?.close();
    await smtp?.close();
  });

  itInBrowser(
    'a scope without require_approval still comes by plain exchange; one with it is refused there, pointing at bc-authorize',
    async () => {
      const read = await exchange('crm:read');
      expect(read).toMatchObject({ status: 200, body: { scope: 'crm:read' } });
      expect(payloadOf(read.body.access_token)).toMatchObject({ aud: CRM, scope: 'crm:read', act: { sub: 'mcp-1' } });
      expect(payloadOf(read.body.access_token).approval).toBeUndefined();
      const del = await exchange('crm:delete');
      expect(del).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
      expect(del.body.error_description).toContain('crm:delete (approval_required)');
      expect(del.body.error_description).toContain(`${base}/oauth2/bc-authorize`);
    },
  );

  itInBrowser(
    'bc-authorize with resource → the page names the resource and scope → Approve → resource token with the approval claim',
    async () => {
      const asked = await ask();
      expect(asked.status).toBe(200);
      const authReqId: string = asked.body.auth_req_id;
      const id = await idOf(authReqId);
      expect(await poll(authReqId)).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });

      const url = `${base}/account/approvals/${id}`;
      const mail = await smtp.next('alice@example.test');
      expect(mail.text).toContain('Subject: Approve: Research assistant asks to use Customer CRM');
      expect(mail.text).toContain(url);
      await signIn(page, provider, 'alice', url);
      const text = (await page.locator('main').textContent()) ?? '';
      expect(text).toContain('Approve Research assistant?');
      expect(text).toContain('Customer CRM');
      expect(text).toContain(CRM);
      expect(await page.locator('#resource-scopes li[data-scope="crm:delete"]').textContent()).toContain('Delete customer records');
      expect(text).toContain('Purge lead 17');
      await page.click('button:has-text("Approve")');
      await expect(page.locator('h1').textContent()).resolves.toBe('Approved');

      await v.db.ds.query(`UPDATE approvals SET last_polled_at = now() - interval '1 hour' WHERE id = $1`, [id]);
      const issued = await poll(authReqId);
      expect(issued).toMatchObject({ status: 200, body: { token_type: 'Bearer', scope: 'crm:delete' } });
      const claims = payloadOf(issued.body.access_token);
      expect(claims).toMatchObject({ iss: base, aud: CRM, sub: 'alice', tid: T, act: { sub: 'mcp-1' }, scope: 'crm:delete', approval: id });
      // Never longer than the resource's own token lifetime.
      expect(claims.exp - claims.iat).toBeLessThanOrEqual(120);
      // Used once.
      await v.db.ds.query(`UPDATE approvals SET last_polled_at = now() - interval '1 hour' WHERE id = $1`, [id]);
      expect(await poll(authReqId)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

      const audit = await v.call('GET', `/v1/admin/audit?approval=${id}`, { token: admin() });
      const events = [...audit.body.events].reverse();
      expect(events.map((e: any) => `${e.action}:${e.outcome}`)).toEqual([
        'approval.request:allowed',
        'approval.approve:allowed',
        'token.ciba:allowed',
        'token.ciba:denied',
      ]);
      expect(events[0].details).toMatchObject({ resource: CRM, scopes: ['crm:delete'] });
      expect(events[1].details).toMatchObject({ resource: CRM, approver: 'alice' });
      expect(events[2].details).toMatchObject({ resource: CRM, granted: ['crm:delete'], jti: claims.jti });
    },
  );

  itInBrowser('Deny: the agent polls access_denied, and no token is issued', async () => {
    const asked = await ask({ binding_message: 'Deny me' });
    const id = await idOf(asked.body.auth_req_id);
    // The account page lists it with the resource and scope (still signed in).
    await page.goto(`${base}/account`);
    await expect(page.locator('#approvals').textContent()).resolves.toContain(`Research assistant asks to use ${CRM} (crm:delete)`);
    await page.goto(`${base}/account/approvals/${id}`);
    await page.click('button:has-text("Deny")');
    await expect(page.locator('h1').textContent()).resolves.toBe('Denied');
    expect(await poll(asked.body.auth_req_id)).toMatchObject({ status: 400, body: { error: 'access_denied' } });
    expect((await v.db.ds.query(`SELECT status, token_jti FROM approvals WHERE id = $1`, [id]))[0]).toEqual({
      status: 'denied',
      token_jti: null,
    });
  });

  itInBrowser(
    'bc-authorize refuses an unknown resource, a scope the user lacks the role for, and an agent the resource does not list',
    async () => {
      expect(await ask({ resource: 'https://nope.example.com' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
      const noRole = await ask({ login_hint_token: userToken(['analyst']) });
      expect(noRole).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
      expect(noRole.body.error_description).toContain('crm:delete (role_missing)');
      const unknown = await ask({ scope: 'crm:delete crm:export' });
      expect(unknown.body.error_description).toContain('crm:export (unknown_scope)');
      const other = await ask({}, basic('mcp-2', secret2));
      expect(other.body.error_description).toContain('crm:delete (agent_not_allowed)');
      const refusals = await v.db.ds.query(
        `SELECT count(*)::int AS n FROM audit_events WHERE action = 'approval.request' AND outcome = 'denied' AND reason IN ('invalid_scope', 'invalid_target')`,
      );
      expect(refusals).toEqual([{ n: 4 }]);
      expect(await v.db.ds.query(`SELECT count(*)::int AS n FROM approvals WHERE status = 'pending'`)).toEqual([{ n: 0 }]);
    },
  );
});
