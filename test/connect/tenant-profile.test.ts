import { auditOf, claimLink, connectOverHttp, createSession, openConsent, PUBLIC, Rig, startRig } from './support';

/**
 * Issue 20 item 3: a tenant's display name and logo (`PUT/GET /v1/admin/tenant`, validated,
 * audited as an admin change); the consent page says who asks (the display name, else the tenant
 * id) and whom the link is for (`user`, and the app's `user_display_name`), all escaped; the logo
 * is the only other origin the page's CSP admits, fetched without a referrer; the connections page
 * shows the provider account the vault learned at connect time.
 */
describe('tenant display name and logo; who asks, for whom, which account', () => {
  let rig: Rig;
  const put = (body: unknown, token = rig.admin()) => rig.v.call('PUT', '/v1/admin/tenant', { token, body });

  beforeAll(async () => {
    rig = await startRig({ mode: 'google' });
  });
  afterAll(() => rig?.close());

  it('before a display name is set, pages fall back to the tenant id and admit no other image origin', async () => {
    expect((await rig.v.call('GET', '/v1/admin/tenant', { token: rig.admin() })).body).toEqual({
      tenant: 'acme',
      display_name: null,
      logo_url: null,
      updated_at: null,
    });
    const ua = rig.browser();
    const s = await createSession(rig, 'olga');
    const c = await openConsent(ua, s.url);
    expect(c.page).toContain('requested by <strong>acme</strong>');
    expect(c.page).toContain('This link is for user <strong>olga</strong> of acme.');
    expect(c.page).not.toContain('<img');
    const csp = (await ua.get(c.pageUrl)).headers.get('content-security-policy')!;
    expect(csp).toContain("img-src 'self';");
  });

  it.each([
    ['a javascript: logo', { display_name: 'Acme', logo_url: 'javascript:alert(1)' }, 'logo_url', /https URL/],
    ['a data: logo', { display_name: 'Acme', logo_url: 'data:image/png;base64,iVBORw0KGgo=' }, 'logo_url', /https URL/],
    ['an http: logo', { display_name: 'Acme', logo_url: 'http://cdn.acme.example/logo.png' }, 'logo_url', /https URL/],
    [
      'a logo with credentials',
      { display_name: 'Acme', logo_url: 'https://user:pw@cdn.acme.example/logo.png' },
      'logo_url',
      /user name or password/,
    ],
    [
      'a logo URL over 2048 characters',
      { display_name: 'Acme', logo_url: `https://cdn.acme.example/${'a'.repeat(2100)}` },
      'logo_url',
      /at most 2048/,
    ],
    [
      'a logo host that would split the CSP header',
      { display_name: 'Acme', logo_url: 'https://cdn;img-src.example/l.png' },
      'logo_url',
      /hyphens/,
    ],
    ['a logo on an IP address', { display_name: 'Acme', logo_url: 'https://127.0.0.1/logo.png' }, 'logo_url', /not an IP address/],
    ['a blank display name', { display_name: '  ' }, 'display_name', /empty/],
    ['a display name with a bidi override', { display_name: 'Acme\u202eevil' }, 'display_name', /text-direction/],
    ['no display name', { logo_url: 'https://cdn.acme.example/logo.png' }, 'display_name', /display_name/],
  ])('refuses %s with a 400 naming the field', async (_label, body, field, message) => {
    const r = await put(body);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
    expect(JSON.stringify(r.body.errors)).toContain(field);
    expect(JSON.stringify(r.body)).toMatch(message);
  });

  it('only an admin sets it; set, read back, audited as tenant.configure (with the logo host only)', async () => {
    expect((await put({ display_name: 'Evil' }, rig.agentToken('olga'))).status).toBe(403);
    const r = await put({ display_name: ' Acme <Travel> ', logo_url: 'https://cdn.acme.example/brand/logo.png?v=2' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      tenant: 'acme',
      display_name: 'Acme <Travel>',
      logo_url: 'https://cdn.acme.example/brand/logo.png?v=2',
    });
    expect((await put({ display_name: 'Acme <Travel>', logo_url: 'https://cdn.acme.example/brand/logo.png?v=2' })).status).toBe(200);
    expect((await rig.v.call('GET', '/v1/admin/tenant', { token: rig.admin() })).body.display_name).toBe('Acme <Travel>');
    const events = await auditOf(rig, 'tenant.configure');
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({
      outcome: 'allowed',
      details: { display_name: 'Acme <Travel>', logo_host: 'cdn.acme.example', created: true },
    });
    expect(JSON.stringify(events)).not.toContain('brand/logo.png');
    // Among the admin changes on the dashboard's security view.
    const dashboard = await rig.v.call('GET', '/dashboard', { token: rig.admin() });
    expect(dashboard.text).toMatch(/<tr data-admin-change="tenant\.configure">[^]*?profile[^]*?admin@acme/);
  });

  it('the consent page: requested by the display name, for the named user (escaped), logo without referrer, CSP', async () => {
    const ua = rig.browser();
    const s = await createSession(rig, 'olga', { user_display_name: 'Olga <b>Smith</b>' });
    const opened = await ua.get(s.url);
    expect(opened.body).toContain('<strong>Acme &lt;Travel&gt;</strong> asks you to connect your Team Calendar account');
    expect(opened.headers.get('content-security-policy')).toContain("img-src 'self' https://cdn.acme.example;");
    const claim = await claimLink(ua, s.url);
    const page = await ua.get(claim.location);
    expect(page.body).toContain('requested by <strong>Acme &lt;Travel&gt;</strong> (app.test.example)');
    expect(page.body).toContain(
      'This link is for <strong>Olga &lt;b&gt;Smith&lt;/b&gt;</strong> (user <code>olga</code>) of Acme &lt;Travel&gt;. ' +
        'If that is not you, press Cancel.',
    );
    expect(page.body).not.toContain('<b>Smith');
    expect(page.body).toContain(
      '<img class="logo" src="https://cdn.acme.example/brand/logo.png?v=2" alt="" referrerpolicy="no-referrer">Acme &lt;Travel&gt;',
    );
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("img-src 'self' https://cdn.acme.example;");
    expect(csp).toContain("default-src 'none'");
    // The page's own referrer policy is unchanged: same-origin only.
    expect(page.headers.get('referrer-policy')).toBe('same-origin');
  });

  it('user_display_name is validated like a display name', async () => {
    for (const name of ['', 'a\u0007b', 'x'.repeat(101)]) {
      const r = await rig.v.call('POST', '/v1/connect/sessions', {
        token: rig.admin(),
        body: { user: 'olga', integration: rig.integration, user_display_name: name },
      });
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toContain('user_display_name');
    }
  });

  it('removing the logo (null) takes its origin out of the CSP', async () => {
    expect((await put({ display_name: 'Acme Travel', logo_url: null })).body.logo_url).toBeNull();
    const ua = rig.browser();
    const c = await openConsent(ua, (await createSession(rig, 'olga')).url);
    expect(c.page).not.toContain('<img');
    expect(c.page).toContain('requested by <strong>Acme Travel</strong>');
    expect((await ua.get(c.pageUrl)).headers.get('content-security-policy')).toContain("img-src 'self';");
  });

  it('after connecting, the connections page and the admin listing show the provider account (its e-mail at connect time)', async () => {
    const ua = rig.browser();
    const done = await connectOverHttp(rig, 'paula', { login: 'paula' });
    expect(done).toContain('status=connected');
    const [row] = await rig.v.db.ds.query(
      `SELECT provider_account_id, provider_account_email FROM vault.connections WHERE subject = 'paula'`,
    );
    expect(row).toEqual({ provider_account_id: 'paula', provider_account_email: 'paula@example.test' });
    const list = await rig.v.call('GET', '/v1/admin/connections', { token: rig.admin() });
    expect(list.body.connections).toEqual(
      expect.arrayContaining([expect.objectContaining({ user: 'paula', provider_account_email: 'paula@example.test' })]),
    );
    // The connections page of a browser holding one of paula's sessions.
    await openConsent(ua, (await createSession(rig, 'paula')).url);
    const page = await ua.get(`${PUBLIC}/connections`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('account <strong>paula@example.test</strong>');
    expect(page.body).toMatch(/<p class="eyebrow">Acme Travel<\/p>\s*<p class="eyebrow">Signed in for this visit as paula<\/p>/);
  });
});
