import { Page } from 'playwright-core';
import { browserAvailable, BrowserWorld, itInBrowserFor, providerLogin, startBrowserWorld } from '../support/browser-world';
import { TestProvider } from '../support/oidc-provider';
import { TestVault } from '../support/vault';
import { DpopKey } from '../dpop/support';
import { ClientSide, decodeJwt, pkce, tokenCall } from './support';

const itInBrowser = itInBrowserFor('test/authorize/authorize-browser.test.ts');
const T = 'acme';
const CRM = 'https://crm.internal.example.com';

/**
 * Issue 19 §2 in a real browser (chromium, JavaScript off) through a real OpenID provider: an MCP
 * client registers (RFC 7591) or is known by its metadata document, sends the person to
 * /oauth2/authorize (PKCE S256, state, resource), they sign in with the tenant's provider, see a
 * consent page naming the client as unverified, the resource and the scopes in plain words, and
 * allow; the client redeems the code (PKCE) for an RFC 9068 token for the resource and a rotating
 * refresh token. Replays and reuse revoke; the consent is remembered and revocable on /account.
 */
describe('/oauth2/authorize: consent in the browser, code and refresh grants', () => {
  let world: BrowserWorld;
  let v: TestVault;
  let provider: TestProvider;
  let client: ClientSide;
  let page: Page;
  let base: string;
  let clientId: string;
  let redirectUri: string;

  const authorizeUrl = (p: Record<string, string | undefined>) => {
    const q = new URLSearchParams();
    for (const [k, val] of Object.entries(p)) if (val !== undefined) q.set(k, val);
    return `${base}/oauth2/authorize?${q}`;
  };
  const params = (challenge: string, extra: Record<string, string | undefined> = {}) => ({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st-' + Math.random().toString(36).slice(2),
    resource: CRM,
    scope: 'crm:read crm:write',
    ...extra,
  });
  /** The client's callback after the browser followed the vault's redirect. */
  const lastCallback = () => client.callbacks.at(-1)!;
  const audit = (action: string) =>
    v.db.ds.query(`SELECT outcome, reason, subject, details FROM vault.audit_events WHERE tenant = $1 AND action = $2 ORDER BY seq`, [
      T,
      action,
    ]);

  beforeAll(async () => {
    if (!browserAvailable) return;
    client = await new ClientSide().start();
    world = await startBrowserWorld({
      tenant: T,
      provider: { mode: 'login', roles: { alice: ['analyst'] } },
      callback: '/auth/callback',
      env: { VAULT_DEFAULT_TENANT: T, OAUTH_DCR_TENANTS: T },
    });
    ({ v, provider, page, base } = world);
    const { put } = world;
    await world.userLogin({ scopes: ['openid', 'email', 'profile'], roles_claim: 'roles' });
    await put('/v1/admin/resources/crm', {
      identifier: CRM,
      display_name: 'Customer CRM',
      scopes: {
        'crm:read': { description: 'Read customer records', roles_any: ['analyst'] },
        'crm:write': { description: 'Change customer records', roles_any: ['crm-admin'] },
      },
      token_ttl_seconds: 300,
    });
    redirectUri = `${client.url}/callback`;
    const reg = await v.call('POST', '/oauth2/register', {
      body: { client_name: 'Claude Desktop', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' },
    });
    expect(reg.status).toBe(201);
    clientId = reg.body.client_id;
  }, 60_000);
  afterAll(async () => {
    await world?.close();
    await client?.close();
  });

  let first: { code: string; verifier: string };

  itInBrowser('sign in, a consent page naming the unverified client, resource and scopes; Allow → code, state and iss', async () => {
    const { verifier, challenge } = pkce();
    const p = params(challenge);
    await Promise.all([page.waitForURL(`${provider.url}/**`), page.goto(authorizeUrl(p))]);
    await providerLogin(page, 'alice', `${base}/oauth2/authorize?**`);

    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('Allow Claude Desktop to use Customer CRM for you?');
    expect(text).toContain('unverified');
    expect(text).toContain('Read customer records');
    expect(await page.locator('li[data-scope]').evaluateAll((els) => els.map((e) => e.getAttribute('data-scope')))).toEqual(['crm:read']);
    expect(text).toMatch(/crm:write.*your role does not allow it/);
    await Promise.all([page.waitForURL(`${client.url}/callback?**`), page.click('button:has-text("Allow")')]);
    const cb = lastCallback();
    expect(cb.get('state')).toBe(p.state);
    expect(cb.get('iss')).toBe(base);
    first = { code: cb.get('code')!, verifier };
    expect(first.code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await audit('oauth.authorize')).at(-1)).toMatchObject({
      outcome: 'allowed',
      subject: 'alice',
      details: { client_id: clientId, resource: CRM, scopes: ['crm:read'], remembered: false },
    });
  });

  let refresh: string;

  itInBrowser('the code (with its PKCE verifier) gives an RFC 9068 token for the resource and a refresh token', async () => {
    const res = await tokenCall(v.url, {
      grant_type: 'authorization_code',
      code: first.code,
      client_id: clientId,
      redirect_uri: redirectUri,
      code_verifier: first.verifier,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'crm:read', expires_in: 300 });
    expect(decodeJwt(res.body.access_token)).toMatchObject({
      iss: base,
      aud: CRM,
      sub: 'alice',
      tid: T,
      scope: 'crm:read',
      client_id: clientId,
    });
    refresh = res.body.refresh_token;
    expect(refresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  itInBrowser('refresh tokens rotate; using one twice revokes the whole family', async () => {
    const r1 = await tokenCall(v.url, { grant_type: 'refresh_token', refresh_token: refresh, client_id: clientId });
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(refresh);
    const reuse = await tokenCall(v.url, { grant_type: 'refresh_token', refresh_token: refresh, client_id: clientId });
    expect([reuse.status, reuse.body.error]).toEqual([400, 'invalid_grant']);
    expect(reuse.body.error_description).toContain('family is revoked');
    const next = await tokenCall(v.url, { grant_type: 'refresh_token', refresh_token: r1.body.refresh_token, client_id: clientId });
    expect([next.status, next.body.error]).toEqual([400, 'invalid_grant']);
    expect((await audit('token.refresh')).map((e: any) => [e.outcome, e.reason])).toEqual([
      ['allowed', null],
      ['denied', 'invalid_grant'],
      ['denied', 'invalid_grant'],
    ]);
  });

  itInBrowser('the consent is remembered: the same request answers with a code at once; a replayed code revokes what it gave', async () => {
    const { verifier, challenge } = pkce();
    const p = params(challenge);
    await Promise.all([page.waitForURL(`${client.url}/callback?**`), page.goto(authorizeUrl(p))]);
    const code = lastCallback().get('code')!;
    expect(lastCallback().get('state')).toBe(p.state);
    expect((await audit('oauth.authorize')).at(-1).details.remembered).toBe(true);
    const redeem = () =>
      tokenCall(v.url, { grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: redirectUri, code_verifier: verifier });
    const ok = await redeem();
    expect(ok.status).toBe(200);
    const replay = await redeem();
    expect([replay.status, replay.body.error]).toEqual([400, 'invalid_grant']);
    expect(replay.body.error_description).toContain('already used');
    const after = await tokenCall(v.url, { grant_type: 'refresh_token', refresh_token: ok.body.refresh_token, client_id: clientId });
    expect([after.status, after.body.error]).toEqual([400, 'invalid_grant']);
  });

  itInBrowser('a DPoP proof at the code and refresh grants binds the access token (cnf.jkt); a bad proof is refused, audited', async () => {
    const key = await DpopKey.create();
    const proof = (htu = `${base}/oauth2/token`) => key.proof('POST', '/oauth2/token', undefined, { claims: { htu } });
    const code = async () => {
      const { verifier, challenge } = pkce();
      await Promise.all([page.waitForURL(`${client.url}/callback?**`), page.goto(authorizeUrl(params(challenge)))]);
      return {
        grant_type: 'authorization_code',
        code: lastCallback().get('code')!,
        client_id: clientId,
        redirect_uri: redirectUri,
        code_verifier: verifier,
      };
    };
    const bound = await tokenCall(v.url, await code(), { dpop: await proof() });
    expect(bound.status).toBe(200);
    expect(bound.body).toMatchObject({ token_type: 'DPoP', scope: 'crm:read' });
    expect(decodeJwt(bound.body.access_token)).toMatchObject({ aud: CRM, cnf: { jkt: key.jkt } });
    expect((await audit('token.authorization_code')).at(-1).details).toMatchObject({ dpop_jkt: key.jkt });

    const refreshed = await tokenCall(
      v.url,
      { grant_type: 'refresh_token', refresh_token: bound.body.refresh_token, client_id: clientId },
      { dpop: await proof() },
    );
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.token_type).toBe('DPoP');
    expect(decodeJwt(refreshed.body.access_token).cnf).toEqual({ jkt: key.jkt });

    const wrong = await tokenCall(v.url, await code(), { dpop: await proof('https://elsewhere.example/oauth2/token') });
    expect([wrong.status, wrong.body.error]).toEqual([400, 'invalid_dpop_proof']);
    expect((await audit('token.authorization_code')).at(-1)).toMatchObject({ outcome: 'denied', reason: 'invalid_dpop_proof' });
  });

  itInBrowser('PKCE: a wrong verifier is invalid_grant; plain is refused back to the client', async () => {
    const { challenge } = pkce();
    await Promise.all([page.waitForURL(`${client.url}/callback?**`), page.goto(authorizeUrl(params(challenge)))]);
    const wrong = await tokenCall(v.url, {
      grant_type: 'authorization_code',
      code: lastCallback().get('code')!,
      client_id: clientId,
      redirect_uri: redirectUri,
      code_verifier: pkce().verifier,
    });
    expect([wrong.status, wrong.body.error]).toEqual([400, 'invalid_grant']);
    expect(wrong.body.error_description).toContain('PKCE');
    // An expired code is refused even with the right verifier.
    const { verifier, challenge: c2 } = pkce();
    await Promise.all([page.waitForURL(`${client.url}/callback?**`), page.goto(authorizeUrl(params(c2)))]);
    await v.db.ds.query(`UPDATE vault.oauth_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`);
    const late = await tokenCall(v.url, {
      grant_type: 'authorization_code',
      code: lastCallback().get('code')!,
      client_id: clientId,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect([late.status, late.body.error, late.body.error_description]).toEqual([400, 'invalid_grant', 'the code has expired']);
    const plain = await fetch(authorizeUrl(params(challenge, { code_challenge_method: 'plain' })), { redirect: 'manual' });
    const loc = new URL(plain.headers.get('location')!);
    expect([loc.origin + loc.pathname, loc.searchParams.get('error')]).toEqual([redirectUri, 'invalid_request']);
  });

  itInBrowser('a client known by its metadata document: named with its host on the consent page; Deny → access_denied', async () => {
    const docUrl = `${client.url}/clients/inspector.json`;
    client.json('/clients/inspector.json', { client_id: docUrl, client_name: 'MCP Inspector', redirect_uris: [redirectUri] });
    const { challenge } = pkce();
    const p = { ...params(challenge), client_id: docUrl };
    await page.goto(authorizeUrl(p));
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('Allow MCP Inspector to use Customer CRM for you?');
    expect(text).toContain(`from ${new URL(client.url).host}`);
    expect(text).toContain('unverified');
    await Promise.all([page.waitForURL(`${client.url}/callback?**`), page.click('button:has-text("Deny")')]);
    expect([lastCallback().get('error'), lastCallback().get('state')]).toEqual(['access_denied', p.state]);
  });

  itInBrowser('/account lists the app with access; Revoke stops its refresh tokens', async () => {
    const { verifier, challenge } = pkce();
    await Promise.all([page.waitForURL(`${client.url}/callback?**`), page.goto(authorizeUrl(params(challenge)))]);
    const ok = await tokenCall(v.url, {
      grant_type: 'authorization_code',
      code: lastCallback().get('code')!,
      client_id: clientId,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(ok.status).toBe(200);
    await page.goto(`${base}/account`);
    const app = page.locator(`#authorizations li[data-client="${clientId}"]`);
    expect(await app.textContent()).toContain('Claude Desktop');
    await Promise.all([page.waitForURL(`${base}/account?notice=revoked`), app.locator('button:has-text("Revoke")').click()]);
    expect(await page.locator('#authorizations').count()).toBe(0);
    const after = await tokenCall(v.url, { grant_type: 'refresh_token', refresh_token: ok.body.refresh_token, client_id: clientId });
    expect([after.status, after.body.error]).toEqual([400, 'invalid_grant']);
    expect((await audit('oauth.consent_revoke')).at(-1)).toMatchObject({
      subject: 'alice',
      details: { client_id: clientId, resource: CRM },
    });
  });
});
