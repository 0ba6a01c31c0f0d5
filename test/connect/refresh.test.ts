import { auditOf, claimLink, connectOverHttp, Rig, startRig } from './support';

/**
 * Release of OAuth connections against a provider that rotates refresh tokens and revokes the
 * whole family when an old one is reused: refresh on demand, single flight, the rotated token
 * persisted; terminal errors → needs_reauth (409 + connect_url); transient ones keep the token.
 */
describe('release and refresh (rotating refresh tokens, family revocation on reuse)', () => {
  let rig: Rig;
  const release = (user = 'alice') => rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken(user) });
  const expire = (user = 'alice') =>
    rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second' WHERE subject = $1`, [user]);

  beforeAll(async () => {
    rig = await startRig({ mode: 'rotating', authMethod: 'client_secret_post' });
    await connectOverHttp(rig, 'alice');
  });
  afterAll(() => rig?.close());

  it('50 concurrent releases of an expired token → exactly one refresh; everyone gets the same new token', async () => {
    const before = (await release()).body.access_token;
    await expire();
    await rig.provider.reset();
    const results = await Promise.all(Array.from({ length: 50 }, () => release()));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const tokens = new Set(results.map((r) => r.body.access_token));
    expect(tokens.size).toBe(1);
    expect(tokens.has(before)).toBe(false);
    expect((await rig.provider.stats()).token.refresh_token).toBe(1);
    expect((await auditOf(rig, 'connection.refresh'))[0]).toMatchObject({
      outcome: 'allowed',
      details: expect.objectContaining({ rotated: true }),
    });
  });

  it('the rotated refresh token was persisted: the next refresh succeeds (reusing the old one would have revoked the family)', async () => {
    for (let i = 0; i < 3; i++) {
      await expire();
      const r = await release();
      expect(r.status).toBe(200);
    }
    expect((await rig.provider.stats()).token.refresh_token).toBe(4);
    const [row] = await rig.v.db.ds.query(`SELECT status, version, last_error_class FROM vault.connections WHERE subject = 'alice'`);
    expect(row).toMatchObject({ status: 'active', last_error_class: null });
  });

  it(
    'a transient provider error (503) while the token is still valid → the current token is released, kept, error class ' + 'recorded',
    async () => {
      const current = (await release()).body.access_token;
      // Inside the refresh-ahead window (30 s left of a one-hour token: under min(60 s, 25 %)) but not yet expired.
      await rig.v.db.ds.query(
        `UPDATE vault.connections SET expires_at = now() + interval '30 seconds', token_issued_at = ` +
          `now() - interval '3570 seconds' WHERE subject = 'alice'`,
      );
      await rig.provider.faults({ next: [{ status: 503, body: { error: 'temporarily_unavailable' } }] });
      const r = await release();
      expect(r.status).toBe(200);
      expect(r.body.access_token).toBe(current);
      const [row] = await rig.v.db.ds.query(`SELECT status, last_error_class, lease_owner FROM vault.connections WHERE subject = 'alice'`);
      expect(row).toEqual({ status: 'active', last_error_class: 'transient:server_error', lease_owner: null });
    },
  );

  it('429 with Retry-After on an expired token → 503 unavailable with Retry-After; nothing lost, audited', async () => {
    await expire();
    await rig.provider.faults({ next: [{ status: 429, headers: { 'retry-after': '7' }, body: { error: 'slow_down' } }] });
    const r = await release();
    expect(r.status).toBe(503);
    expect(r.body.code).toBe('unavailable');
    expect(r.headers.get('retry-after')).toBe('7');
    expect((await rig.v.db.ds.query(`SELECT status FROM vault.connections WHERE subject = 'alice'`))[0].status).toBe('active');
    const ok = await release(); // the provider is back
    expect(ok.status).toBe(200);
  });

  it('invalid_grant (terminal) → needs_reauth; release answers 409 with a connect_url; nothing deleted', async () => {
    await expire();
    await rig.provider.faults({ next: [{ status: 400, body: { error: 'invalid_grant', error_description: 'grant revoked' } }] });
    const r = await release();
    expect(r.status).toBe(409);
    expect(r.body.code).toBe('needs_reauth');
    expect(r.body.connect_url).toMatch(/^https:\/\/vault\.test\.example\/connect\/[A-Za-z0-9_-]{43}$/);
    const [row] = await rig.v.db.ds.query(
      `SELECT status, last_error_class, refresh_token_ct IS NOT NULL AS kept FROM vault.connections WHERE subject = 'alice'`,
    );
    expect(row).toEqual({ status: 'needs_reauth', last_error_class: 'terminal:invalid_grant', kept: true });
    expect((await auditOf(rig, 'connection.refresh'))[0]).toMatchObject({
      outcome: 'denied',
      reason: 'needs_reauth',
      details: expect.objectContaining({ provider_error: 'invalid_grant' }),
    });
    // Still 409 (no provider call) until the user reconnects through the offered URL.
    await rig.provider.reset();
    expect((await release()).status).toBe(409);
    expect((await rig.provider.stats()).token.refresh_token).toBe(0);
  });

  it('following the connect_url reconnects: active again, released', async () => {
    const offered = (await release()).body.connect_url as string;
    const ua = rig.browser();
    const claim = await claimLink(ua, offered);
    const page = await ua.get(claim.location!);
    expect(page.body).toContain('Calendar assistant');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1];
    const sid = /\/connect\/s\/([0-9a-f-]{36})/.exec(claim.location!)![1];
    const start = await ua.post(`https://vault.test.example/connect/s/${sid}/authorize`, { csrf });
    const callback = await ua.authorizeAt(start.location!, 'https://vault.test.example/oauth/callback', 'alice');
    const done = await ua.get(callback);
    // An agent-offered session has no return URL: the user lands on their connections page.
    expect(done.location).toBe('https://vault.test.example/connections?connected=calendar');
    expect((await release()).status).toBe(200);
  });

  it('no connection for a user the policy allows → 404 with connect_url; a user it does not → 403 without', async () => {
    const r = await release('zoe');
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('connection_not_found');
    expect(r.body.connect_url).toMatch(/^https:\/\/vault\.test\.example\/connect\//);
    const rows = await rig.v.db.ds.query(`SELECT created_by, subject, return_url FROM vault.connect_sessions WHERE subject = 'zoe'`);
    expect(rows).toEqual([{ created_by: 'agent:mcp-1', subject: 'zoe', return_url: null }]);
    await rig.v.call('PUT', '/v1/admin/policies/no-zoe', {
      token: rig.admin(),
      body: { agents: ['*'], integrations: ['calendar'], users: { subjects: ['zoe'] }, effect: 'deny' },
    });
    const denied = await release('zoe');
    expect(denied.status).toBe(403);
    expect(denied.body.connect_url).toBeUndefined();
  });

  it('a connection whose provider issued no refresh token and has expired → needs_reauth', async () => {
    await connectOverHttp(rig, 'yann');
    await rig.v.db.ds.query(
      `UPDATE vault.connections SET refresh_token_ct = NULL, expires_at = now() - interval '1 second' WHERE subject = 'yann'`,
    );
    const r = await release('yann');
    expect(r.status).toBe(409);
    expect((await rig.v.db.ds.query(`SELECT last_error_class FROM vault.connections WHERE subject = 'yann'`))[0].last_error_class).toBe(
      'terminal:no_refresh_token',
    );
  });
});
