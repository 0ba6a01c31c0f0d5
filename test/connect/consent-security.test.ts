import { startTestProvider, TestProvider } from '../support/oidc-provider';
import { UserAgent } from '../support/oidc-provider/user-agent';
import { CALLBACK, clickConnect, createSession, openConsent, PUBLIC, Rig, startRig, T } from './support';

/** SECURITY.md 12–17 and 19: the consent flow's refusals, over HTTP against a real authorization server. */
describe('consent flow security (SECURITY 12–17, 19)', () => {
  let rig: Rig;
  let other: TestProvider;
  const codeCalls = async () => (await rig.provider.stats()).token.authorization_code;

  /** Runs a flow up to the provider's redirect back: the callback URL the vault would receive. */
  async function callbackFor(
    user: string,
    ua = rig.browser(),
    integration?: string,
  ): Promise<{ ua: UserAgent; callback: URL; sessionId: string }> {
    const s = await createSession(rig, user, integration ? { integration } : {});
    const consent = await openConsent(ua, s.url);
    const callback = await ua.authorizeAt(await clickConnect(ua, consent), CALLBACK, user);
    return { ua, callback: new URL(callback), sessionId: consent.sessionId };
  }
  const withParams = (u: URL, change: Record<string, string | null>) => {
    const c = new URL(u);
    for (const [k, v] of Object.entries(change)) {
      if (v === null) c.searchParams.delete(k);
      else c.searchParams.set(k, v);
    }
    return c.toString();
  };
  const expectRefusedPage = (hop: { status: number; headers: Headers; body: string }, status = 400) => {
    expect(hop.status).toBe(status);
    expect(hop.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(hop.headers.get('cache-control')).toBe('no-store');
    expect(hop.headers.get('content-security-policy')).toContain("default-src 'none'");
  };

  beforeAll(async () => {
    rig = await startRig({ mode: 'rotating' });
    other = await startTestProvider({ mode: 'google', redirectUris: [CALLBACK] });
    await rig.v.call('PUT', '/v1/admin/integrations/other', {
      token: rig.admin(),
      body: {
        provider: 'custom-oauth2',
        client_id: other.clientId,
        client_secret: other.clientSecret,
        authorize_url: `${other.url}/auth`,
        token_url: `${other.url}/token`,
        scopes: ['openid'],
        return_urls: ['https://app.test.example/settings/'],
        provider_options: { issuer: other.issuer, require_iss: true, authorize_params: { access_type: 'offline', prompt: 'consent' } },
      },
    });
  });
  afterAll(async () => {
    await rig?.close();
    await other?.close();
  });

  it('12: missing, unknown, reused or expired state → 400; the token endpoint is never called', async () => {
    const { ua, callback } = await callbackFor('alice');
    const calls = await codeCalls();
    expectRefusedPage(await ua.get(withParams(callback, { state: null })));
    expectRefusedPage(await ua.get(withParams(callback, { state: 'A'.repeat(43) })));
    expectRefusedPage(await ua.get(withParams(callback, { state: 'short' })));
    expect(await codeCalls()).toBe(calls);
    expect((await ua.get(callback.toString())).status).toBe(303); // the genuine one, once
    expect(await codeCalls()).toBe(calls + 1);
    expectRefusedPage(await ua.get(callback.toString())); // reused
    expect(await codeCalls()).toBe(calls + 1);

    const late = await callbackFor('bob');
    await rig.v.db.ds.query(`UPDATE vault.connect_sessions SET browser_expires_at = now() - interval '1 second' WHERE id = $1`, [
      late.sessionId,
    ]);
    expectRefusedPage(await late.ua.get(late.callback.toString()));
    expect(await codeCalls()).toBe(calls + 1);
  });

  it('13: the state of session A replayed in browser B → rejected; A can still finish', async () => {
    const a = await callbackFor('carol');
    const b = rig.browser();
    await openConsent(b, (await createSession(rig, 'mallory')).url);
    const calls = await codeCalls();
    expectRefusedPage(await b.get(a.callback.toString()));
    expect(await codeCalls()).toBe(calls);
    const done = await a.ua.get(a.callback.toString());
    expect(done.status).toBe(303);
    expect(done.location).toContain('connect_status=connected');
  });

  it('14: an authorization code injected from another flow fails the PKCE check; nothing connected', async () => {
    const victim = await callbackFor('dave');
    const attacker = await callbackFor('mallory');
    const injected = withParams(victim.callback, { code: attacker.callback.searchParams.get('code') });
    const hop = await victim.ua.get(injected);
    expectRefusedPage(hop);
    expect(hop.body).toContain('invalid_grant');
    expect(await rig.v.db.ds.query(`SELECT 1 FROM vault.connections WHERE subject = 'dave'`)).toEqual([]);
    expect(
      (await rig.v.call('GET', '/v1/admin/audit?action=connection.connect&user=dave', { token: rig.admin() })).body.events[0],
    ).toMatchObject({ outcome: 'denied', reason: 'provider_error', details: expect.objectContaining({ provider_error: 'invalid_grant' }) });
  });

  it(
    '15: every authorization request carries an S256 challenge from a fresh CSPRNG verifier; the verifier never leaves ' + 'sealed',
    async () => {
      await rig.provider.reset();
      const ua = rig.browser();
      const consent = await openConsent(ua, (await createSession(rig, 'erin')).url);
      const urls = [];
      for (let i = 0; i < 10; i++) urls.push(new URL(await clickConnect(ua, consent)));
      const challenges = urls.map((u) => u.searchParams.get('code_challenge'));
      for (const u of urls) {
        expect(u.searchParams.get('code_challenge_method')).toBe('S256');
        expect(u.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(u.searchParams.has('code_verifier')).toBe(false);
      }
      expect(new Set(challenges).size).toBe(10);
      expect(new Set(urls.map((u) => u.searchParams.get('state'))).size).toBe(10);
      const [row] = await rig.v.db.ds.query(`SELECT code_verifier_ct, state_hash FROM vault.connect_sessions WHERE id = $1`, [
        consent.sessionId,
      ]);
      expect(row.code_verifier_ct.toString('latin1')).not.toMatch(/[A-Za-z0-9_-]{43}/);
      expect(row.state_hash).toHaveLength(32);
      // Only the latest state works: clicking again retired the earlier ones.
      const early = await ua.authorizeAt(urls[0].toString(), CALLBACK, 'erin');
      expectRefusedPage(await ua.get(early));
    },
  );

  it('16: mix-up — an iss of another provider, or none where it is required, is refused before any code exchange', async () => {
    const ua = rig.browser();
    const y = await callbackFor('frank', ua);
    const x = await callbackFor('frank', ua, 'other'); // a flow at provider X, same browser
    const calls = await codeCalls();
    const xCalls = (await other.stats()).token.authorization_code;
    const forged = withParams(y.callback, { code: x.callback.searchParams.get('code'), iss: x.callback.searchParams.get('iss') });
    expect(x.callback.searchParams.get('iss')).toBe(other.issuer);
    expectRefusedPage(await ua.get(forged));
    expect(await codeCalls()).toBe(calls);
    expect((await other.stats()).token.authorization_code).toBe(xCalls);
    const again = await callbackFor('frank', ua);
    expectRefusedPage(await ua.get(withParams(again.callback, { iss: null })));
    expect(await codeCalls()).toBe(calls);
    const events = (await rig.v.call('GET', '/v1/admin/audit?action=connection.connect&user=frank&outcome=denied', { token: rig.admin() }))
      .body.events;
    expect(events.map((e: { reason: string }) => e.reason)).toEqual(['iss_missing', 'iss_mismatch']);
  });

  it('17: return_url open-redirect corpus → 400 naming return_url; no session created', async () => {
    const corpus = [
      '//evil.example/x',
      'https://evil.example/settings/',
      'https://app.test.example.evil.example/settings/',
      'https://evil.example#@app.test.example/settings/',
      'https://app.test.example@evil.example/settings/',
      'https:\\\\evil.example/settings/',
      'https://app.test.example\\@evil.example/settings/',
      '/\\evil.example',
      'https:/evil.example/settings/',
      'javascript:alert(1)//https://app.test.example/settings/',
      'data:text/html,<script>alert(1)</script>',
      'https://app.test.example%2F@evil.example/',
      'https://app.test.example%2eevil.example/settings/',
      'https%3A%2F%2Fevil.example%2Fsettings%2F',
      'https://app.test.example/other/',
      'https://app.test.example/settings/../../evil',
      'https://app.test.example/settingsX',
      'http://app.test.example/settings/',
      'https://app.test.example:8443/settings/',
      ' https://app.test.example/settings/',
      'https://app.test.example/settings/\n',
      'https://app.test.example/set%09tings/',
      'HTTPS://EVIL.EXAMPLE/settings/',
      'https://аpp.test.example/settings/',
      '',
    ];
    const before = await rig.v.db.ds.query(`SELECT count(*)::int AS n FROM vault.connect_sessions`);
    for (const url of corpus) {
      const r = await rig.v.call('POST', '/v1/connect/sessions', {
        token: rig.admin(),
        body: { user: 'gina', integration: 'calendar', return_url: url },
      });
      expect({ url, status: r.status }).toEqual({ url, status: 400 });
      expect(r.body.errors?.[0]?.field ?? r.body.code).toMatch(/return_url|validation_failed/);
    }
    expect(await rig.v.db.ds.query(`SELECT count(*)::int AS n FROM vault.connect_sessions`)).toEqual(before);
    for (const ok of [
      'https://app.test.example/settings/',
      'https://app.test.example/settings/connections?tab=2',
      `${PUBLIC}/connections`,
    ]) {
      expect(
        (
          await rig.v.call('POST', '/v1/connect/sessions', {
            token: rig.admin(),
            body: { user: 'gina', integration: 'calendar', return_url: ok },
          })
        ).status,
      ).toBe(201);
    }
  });

  it('19: every page is no-store with a strict CSP; every form carries a CSRF token; forged or cross-origin posts → 403', async () => {
    const ua = rig.browser();
    const consent = await openConsent(ua, (await createSession(rig, 'hank')).url);
    const pages = [consent.page, (await ua.get(`${PUBLIC}/connections`)).body];
    for (const page of pages) {
      const forms = page.match(/<form\b[\s\S]*?<\/form>/g) ?? [];
      for (const f of forms) expect(f).toMatch(/<input type="hidden" name="csrf" value="[A-Za-z0-9_-]{43}">/);
    }
    const post = (form: Record<string, string>, headers?: Record<string, string>) =>
      ua.post(`${PUBLIC}/connect/s/${consent.sessionId}/authorize`, form, headers);
    expectRefusedPage(await post({}), 403);
    expectRefusedPage(await post({ csrf: consent.csrf.slice(0, -1) + (consent.csrf.endsWith('A') ? 'B' : 'A') }), 403);
    expectRefusedPage(await post({ csrf: consent.csrf }, { origin: 'https://evil.example' }), 403);
    expect((await post({ csrf: consent.csrf }, { origin: 'https://vault.test.example' })).status).toBe(303);
    // Another session's CSRF token does not fit this one.
    const second = await openConsent(ua, (await createSession(rig, 'hank')).url);
    expectRefusedPage(await post({ csrf: second.csrf }), 403);
  });

  it('19: output is escaped (integration and agent names from admins)', async () => {
    const evil = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`;
    await rig.v.call('PUT', '/v1/admin/integrations/calendar', {
      token: rig.admin(),
      body: {
        provider: 'custom-oauth2',
        display_name: evil,
        client_id: rig.provider.clientId,
        authorize_url: `${rig.provider.url}/auth`,
        token_url: `${rig.provider.url}/token`,
        scopes: ['openid', 'x<y>'],
        return_urls: ['https://app.test.example/settings/'],
        provider_options: { issuer: rig.provider.issuer, require_iss: true },
      },
    });
    await rig.v.call('PUT', '/v1/admin/agents/mcp-1', { token: rig.admin(), body: { name: evil } });
    const consent = await openConsent(rig.browser(), (await createSession(rig, 'ivan')).url);
    expect(consent.page).not.toContain('<script>');
    expect(consent.page).not.toContain('<img');
    expect(consent.page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
    expect(consent.page).toContain('x&lt;y&gt;');
  });

  it('API-key integrations show a paste form (CSRF-protected); the key is stored sealed and released', async () => {
    await rig.v.call('PUT', '/v1/admin/integrations/search', {
      token: rig.admin(),
      body: { provider: 'api_key', display_name: 'Search API', return_urls: ['https://app.test.example/settings/'] },
    });
    await rig.v.call('PUT', '/v1/admin/policies/search', {
      token: rig.admin(),
      body: { agents: ['mcp-1'], integrations: ['search'], effect: 'allow' },
    });
    const ua = rig.browser();
    const consent = await openConsent(ua, (await createSession(rig, 'judy', { integration: 'search' })).url);
    expect(consent.page).toContain('<input id="api_key" name="api_key" type="password"');
    expect(consent.page).toContain('<label for="api_key">API key</label>');
    const url = `${PUBLIC}/connect/s/${consent.sessionId}/api-key`;
    expectRefusedPage(await ua.post(url, { api_key: 'sk-judy-canary' }), 403);
    const saved = await ua.post(url, { csrf: consent.csrf, api_key: 'sk-judy-canary' });
    expect(saved.status).toBe(303);
    expect(saved.location).toBe('https://app.test.example/settings/connections?connect_status=connected&integration=search');
    const r = await rig.v.call('POST', '/v1/connections/search/token', {
      token: rig.v.issuer.agentToken({ tenant: T, user: 'judy', agent: 'mcp-1', integrations: ['search'] }),
    });
    expect(r.body).toEqual({ integration: 'search', type: 'api_key', api_key: 'sk-judy-canary' });
    const rows = await rig.v.db.ds.query(`SELECT t::text AS row FROM vault.connections t WHERE subject = 'judy'`);
    expect(rows[0].row).not.toContain('sk-judy-canary');
  });
});
