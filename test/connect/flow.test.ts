import {
  APP_RETURN,
  auditOf,
  claimLink,
  clickConnect,
  connectOverHttp,
  createSession,
  openConsent,
  Rig,
  startRig,
  T,
  CALLBACK,
} from './support';

/**
 * A user connects an account through HTTP end to end against a real authorization server
 * configured like Google (refresh tokens never rotate; access_type=offline + prompt=consent
 * required), then an agent releases the access token, the user reconnects, and disconnects.
 */
describe('connect an account (Google-like provider, over HTTP)', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ mode: 'google' });
  });
  afterAll(() => rig?.close());

  it('the consent page says which app, which scopes in plain words, which agents; it is safe to render', async () => {
    const ua = rig.browser();
    const s = await createSession(rig, 'alice');
    expect(s.url).toMatch(/^https:\/\/vault\.test\.example\/connect\/[A-Za-z0-9_-]{43}$/);
    // Opening the link does not use it up (link previews); Continue does.
    const opened = await ua.get(s.url);
    expect(opened.status).toBe(200);
    expect(opened.headers.get('set-cookie')).toBeNull();
    expect(
      await rig
        .browser()
        .get(s.url)
        .then((r) => r.status),
    ).toBe(200); // a preview by someone else: still usable
    const claim = await claimLink(ua, s.url);
    expect(claim.headers.get('set-cookie')).toMatch(
      /^__Host-vault_cs_[0-9a-f]{32}=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=1800; HttpOnly; SameSite=Lax; Secure$/,
    );
    const page = await ua.get(claim.location!);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toMatch(
      /default-src 'none'; style-src 'nonce-[^']+'; img-src 'self'; form-action 'self' http:\/\/127\.0\.0\.1:\d+ https:\/\/app\.test\.example; frame-ancestors 'none'; base-uri 'none'/,
    );
    expect(page.headers.get('referrer-policy')).toBe('same-origin');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.body).toContain('Team Calendar');
    expect(page.body).toContain('requested by <strong>acme</strong>');
    expect(page.body).toContain('See your calendars and events');
    expect(page.body).toContain('Calendar assistant');
    expect(page.body).toContain('<code>mcp-1</code>');
    expect(page.body).toMatch(/You will sign in at <strong>127\.0\.0\.1:\d+<\/strong>/);
    expect(page.body).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1|app\.test)/); // no scripts, no external assets
    expect(page.body.match(/<form method="post"/g)).toHaveLength(2);
    expect(page.body.match(/name="csrf" value="[A-Za-z0-9_-]{43}"/g)).toHaveLength(2);
  });

  it('Connect → provider login and consent → callback → connected; the app gets the user back', async () => {
    await rig.provider.reset();
    const final = await connectOverHttp(rig, 'alice');
    expect(final).toBe(`${APP_RETURN}?connect_status=connected&integration=calendar`);
    const stats = await rig.provider.stats();
    expect(stats.token.authorization_code).toBe(1);
    const auth = stats.authorize[0];
    expect(auth).toMatchObject({
      response_type: 'code',
      client_id: rig.provider.clientId,
      redirect_uri: CALLBACK,
      code_challenge_method: 'S256',
      access_type: 'offline',
      prompt: 'consent',
    });
    expect(auth.scope.split(' ').sort()).toEqual(['calendar.read', 'email', 'offline_access', 'openid']);
    expect(auth.state).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const list = await rig.v.call('GET', '/v1/admin/connections?user=alice', { token: rig.admin() });
    expect(list.body.connections).toEqual([
      expect.objectContaining({
        integration: 'calendar',
        user: 'alice',
        type: 'oauth2',
        status: 'active',
        version: 1,
        provider_account_id: 'alice',
      }),
    ]);
    expect(list.body.connections[0].scopes.sort()).toEqual(['calendar.read', 'email', 'offline_access', 'openid']);
    const connects = await auditOf(rig, 'connection.connect');
    expect(connects[0]).toMatchObject({ outcome: 'allowed', user: 'alice', integration: 'calendar' });
  });

  it('the credential is sealed: neither token is anywhere in the database in clear', async () => {
    const release = await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') });
    expect(release.status).toBe(200);
    const rows = await rig.v.db.ds.query(`SELECT t::text AS row, refresh_token_ct IS NOT NULL AS has_refresh FROM vault.connections t`);
    expect(rows[0].has_refresh).toBe(true);
    expect(rows[0].row).not.toContain(release.body.access_token);
    const sessions = await rig.v.db.ds.query(`SELECT t::text AS row FROM vault.connect_sessions t`);
    for (const s of sessions) expect(s.row).not.toContain(release.body.access_token);
  });

  it('an agent releases the access token (no-store), with expiry and granted scopes; audited', async () => {
    const res = await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ integration: 'calendar', type: 'oauth2', token_type: 'Bearer', metadata: {} });
    expect(typeof res.body.access_token).toBe('string');
    expect(Date.parse(res.body.expires_at)).toBeGreaterThan(Date.now() + 3000_000);
    expect(res.text).not.toContain('refresh');
    // The token works at the provider.
    const userinfo = await fetch(`${rig.provider.url}/me`, { headers: { authorization: `Bearer ${res.body.access_token}` } });
    expect(((await userinfo.json()) as { sub: string }).sub).toBe('alice');
  });

  it('refresh on demand keeps a non-rotating refresh token (re-sealed with the new access token under a fresh DEK)', async () => {
    const before = await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') });
    const [{ refresh_token_ct: rtBefore }] = await rig.v.db.ds.query(`SELECT refresh_token_ct FROM vault.connections`);
    await rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second'`);
    await rig.provider.reset();
    const after = await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') });
    expect(after.status).toBe(200);
    expect(after.body.access_token).not.toBe(before.body.access_token);
    expect((await rig.provider.stats()).token.refresh_token).toBe(1);
    const [row] = await rig.v.db.ds.query(`SELECT version, last_refresh_at, refresh_token_ct FROM vault.connections`);
    expect(Number(row.version)).toBe(2);
    expect(row.last_refresh_at).not.toBeNull();
    expect(Buffer.compare(row.refresh_token_ct, rtBefore)).not.toBe(0); // re-sealed under a fresh DEK
    const refreshes = await auditOf(rig, 'connection.refresh');
    expect(refreshes[0]).toMatchObject({
      outcome: 'allowed',
      user: 'alice',
      details: expect.objectContaining({ rotated: false, trigger: 'on_demand' }),
    });
  });

  it('reconnecting replaces the credential atomically (same row, version + 1, new token)', async () => {
    const old = await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') });
    const [{ id, version }] = await rig.v.db.ds.query(`SELECT id, version FROM vault.connections`);
    await connectOverHttp(rig, 'alice');
    const rows = await rig.v.db.ds.query(`SELECT id, version, status FROM vault.connections`);
    expect(rows).toEqual([{ id, version: String(Number(version) + 1), status: 'active' }]);
    const now = await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') });
    expect(now.body.access_token).not.toBe(old.body.access_token);
    expect((await auditOf(rig, 'connection.connect'))[0].details).toMatchObject({ reconnected: true });
  });

  it('the connect URL is single-use: a second browser gets 400; the same browser may reload', async () => {
    const s = await createSession(rig, 'bob');
    const first = rig.browser();
    await openConsent(first, s.url);
    expect((await first.get(s.url)).status).toBe(303); // the same browser goes on to its page
    const second = await rig.browser().get(s.url);
    expect(second.status).toBe(400);
    expect(second.headers.get('content-type')).toContain('text/html');
    expect(second.body).toContain('expired or has already been used');
  });

  it('the connections page shows status and the agent that used it last; disconnect revokes at the provider, then destroys', async () => {
    const ua = rig.browser();
    const s = await createSession(rig, 'alice');
    const consent = await openConsent(ua, s.url);
    const page = await ua.get('https://vault.test.example/connections');
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.body).toContain('Your connections');
    expect(page.body).toContain('Team Calendar');
    expect(page.body).toContain('Connected');
    expect(page.body).toContain('Calendar assistant'); // last used by, from the audit log
    const release = await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') });

    await rig.provider.reset();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1];
    const bad = await ua.post('https://vault.test.example/connections/calendar/disconnect', {
      csrf: 'x'.repeat(43),
      session: consent.sessionId,
    });
    expect(bad.status).toBe(403);
    const done = await ua.post('https://vault.test.example/connections/calendar/disconnect', { csrf, session: consent.sessionId });
    expect(done.status).toBe(303);
    expect(done.location).toBe('https://vault.test.example/connections?disconnected=calendar');
    expect((await rig.provider.stats()).revocation).toBe(1);
    expect(await rig.v.db.ds.query(`SELECT id FROM vault.connections`)).toEqual([]);
    // The released access token died with the grant at the provider.
    const userinfo = await fetch(`${rig.provider.url}/me`, { headers: { authorization: `Bearer ${release.body.access_token}` } });
    expect(userinfo.status).toBe(401);
    expect((await auditOf(rig, 'connection.disconnect'))[0]).toMatchObject({
      outcome: 'allowed',
      user: 'alice',
      details: expect.objectContaining({ revocation: 'revoked', by: 'user:alice' }),
    });
    const after = await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') });
    expect(after.status).toBe(404);
    expect(after.body.connect_url).toMatch(/^https:\/\/vault\.test\.example\/connect\//);
  });

  it(
    'after a disconnect: the notice names the integration (never text from the URL); a new connection ' +
      "was not used by the old one's agent",
    async () => {
      const ua = rig.browser();
      await openConsent(ua, (await createSession(rig, 'alice')).url);
      const notice = await ua.get('https://vault.test.example/connections?disconnected=calendar');
      expect(notice.body).toContain('Team Calendar was disconnected.');
      for (const forged of ['Your%20bank%20account%20is%20locked', 'no-such-integration']) {
        const page = await ua.get(`https://vault.test.example/connections?disconnected=${forged}`);
        expect(page.status).toBe(200);
        expect(page.body).not.toContain('was disconnected');
        expect(page.body).not.toContain('bank account');
      }

      // alice connects again (the test above released her previous connection to mcp-1, then disconnected it):
      // the agent that used the previous connection has not used this one.
      await connectOverHttp(rig, 'alice');
      const fresh = await ua.get('https://vault.test.example/connections');
      expect(fresh.body).toContain('Connected');
      expect(fresh.body).toContain('Not yet');
      expect(fresh.body).not.toContain('Calendar assistant');
      expect((await rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('alice') })).status).toBe(200);
      expect((await ua.get('https://vault.test.example/connections')).body).toContain('Calendar assistant');
    },
  );

  it('admin DELETE revokes at the provider first, then destroys; audited', async () => {
    await connectOverHttp(rig, 'carol');
    await rig.provider.reset();
    const del = await rig.v.call('DELETE', '/v1/admin/connections/calendar/users/carol', { token: rig.admin() });
    expect(del.status).toBe(204);
    expect((await rig.provider.stats()).revocation).toBe(1);
    expect((await auditOf(rig, 'connection.disconnect'))[0]).toMatchObject({
      user: 'carol',
      details: expect.objectContaining({ revocation: 'revoked', by: `admin:admin@${T}` }),
    });
    expect((await rig.v.call('DELETE', '/v1/admin/connections/calendar/users/carol', { token: rig.admin() })).status).toBe(404);
  });

  it('Reconnect on the connections page starts a new session held by the same browser', async () => {
    const ua = rig.browser();
    await connectOverHttp(rig, 'erin');
    const consent = await openConsent(ua, (await createSession(rig, 'erin')).url);
    const page = await ua.get('https://vault.test.example/connections');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1];
    const hop = await ua.post('https://vault.test.example/connections/calendar/reconnect', { csrf, session: consent.sessionId });
    expect(hop.status).toBe(303);
    expect(hop.location).toMatch(/^https:\/\/vault\.test\.example\/connect\/s\/[0-9a-f-]{36}$/);
    expect(hop.location).not.toContain(consent.sessionId);
    const next = await ua.get(hop.location!);
    expect(next.status).toBe(200);
    expect(next.body).toContain('Connect your Team Calendar account');
    const callback = await ua.authorizeAt(
      await clickConnect(ua, {
        sessionId: /s\/([0-9a-f-]{36})$/.exec(hop.location!)![1],
        csrf: /name="csrf" value="([^"]+)"/.exec(next.body)![1],
      }),
      CALLBACK,
      'erin',
    );
    expect((await ua.get(callback)).location).toBe('https://vault.test.example/connections?connected=calendar');
    expect((await rig.v.db.ds.query(`SELECT version FROM vault.connections WHERE subject = 'erin'`))[0].version).toBe('2');
  });

  it('a Connect click is refused without the session cookie', async () => {
    const ua = rig.browser();
    const s = await createSession(rig, 'dave');
    const consent = await openConsent(ua, s.url);
    ua.dropCookies('https://vault.test.example/');
    await expect(clickConnect(ua, consent)).rejects.toThrow(/authorize: 403/);
  });
});
