import { auditOf, clickConnect, connectOverHttp, createSession, openConsent, Rig, startRig } from '../connect/support';

/**
 * SECURITY 41 (issue 14 class 1): a policy's scope ceiling binds the credential itself. Where the
 * provider can downscope (RFC 6749 §6 `scope` on a refresh_token grant) the agent gets a derived
 * token carrying only the allowed scopes — checked at the provider by introspection (RFC 7662) —
 * else 403 `scope_exceeds_policy` naming the excess, audited with granted, ceiling and excess.
 * The response's `scopes` is always the released token's true scope set. Consent asks for no scope
 * that no policy could ever allow. The provider is a real oidc-provider.
 */
const GRANT = ['openid', 'email', 'offline_access', 'calendar.read', 'calendar.write'];
const sorted = (s: string[]) => [...s].sort();

async function introspect(rig: Rig, token: string): Promise<{ active: boolean; scope?: string }> {
  const res = await fetch(`${rig.provider.url}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${rig.provider.clientId}:${rig.provider.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }).toString(),
  });
  return res.json() as Promise<{ active: boolean; scope?: string }>;
}

const setCeiling = async (rig: Rig, scopes: string[]) => {
  const r = await rig.v.call('PUT', '/v1/admin/policies/assistant-calendar', {
    token: rig.admin(),
    body: { agents: ['mcp-1'], integrations: [rig.integration], scopes, effect: 'allow' },
  });
  expect(r.status).toBeLessThan(300);
};

describe('policy scope ceilings bind the credential itself (SECURITY 41)', () => {
  describe('a provider that downscopes on refresh and never rotates', () => {
    let rig: Rig;
    let primary: string;
    const release = (body?: unknown) =>
      rig.v.call('POST', `/v1/connections/${rig.integration}/token`, { token: rig.agentToken('alice'), body });

    beforeAll(async () => {
      rig = await startRig({ mode: 'google', scopes: GRANT, providerOptions: { downscope_on_refresh: true, refresh_rotation: 'never' } });
      await connectOverHttp(rig, 'alice');
    });
    afterAll(() => rig?.close());

    it('no ceiling: the stored token, and `scopes` is its true set (never [] or a label)', async () => {
      const r = await release();
      expect(r.status).toBe(200);
      primary = r.body.access_token;
      expect(sorted(r.body.scopes)).toEqual(sorted(GRANT));
      expect(sorted((await introspect(rig, primary)).scope!.split(' '))).toEqual(sorted(GRANT));
    });

    it(
      'a ceiling narrower than the grant: a derived token carrying only the ceiling (introspected), never the full one; ' + 'audited',
      async () => {
        await setCeiling(rig, ['calendar.read']);
        await rig.provider.reset();
        const r = await release();
        expect(r.status).toBe(200);
        expect(r.body.scopes).toEqual(['calendar.read']);
        expect(r.body.access_token).not.toBe(primary);
        expect(await introspect(rig, r.body.access_token)).toMatchObject({ active: true, scope: 'calendar.read' });
        expect(new Date(r.body.expires_at).getTime()).toBeGreaterThan(Date.now());
        expect((await rig.provider.stats()).token.refresh_token).toBe(1);
        const [event] = await auditOf(rig, 'credential.release');
        expect(event).toMatchObject({
          outcome: 'allowed',
          details: expect.objectContaining({ scopes: ['calendar.read'], narrowed: true, ceiling: ['calendar.read'] }),
        });
        expect(sorted(event.details.granted)).toEqual(sorted(GRANT));
        // Sealed at rest like every credential.
        const [row] = await rig.v.db.ds.query(`SELECT scopes, encode(access_token_ct, 'escape') AS ct FROM vault.derived_tokens`);
        expect(row.scopes).toEqual(['calendar.read']);
        expect(row.ct).not.toContain(r.body.access_token);
      },
    );

    it('the derived token is cached per (connection, scope set) and derived again near its expiry', async () => {
      const first = (await release()).body.access_token;
      await rig.provider.reset();
      expect((await release()).body.access_token).toBe(first);
      expect((await rig.provider.stats()).token.refresh_token).toBe(0);
      await rig.v.db.ds.query(`UPDATE vault.derived_tokens SET expires_at = now() + interval '10 seconds'`);
      const again = await release();
      expect(again.status).toBe(200);
      expect(again.body.access_token).not.toBe(first);
      expect(await introspect(rig, again.body.access_token)).toMatchObject({ active: true, scope: 'calendar.read' });
      expect((await rig.provider.stats()).token.refresh_token).toBe(1);
    });

    it('concurrent releases under the ceiling share one narrowing call', async () => {
      await rig.v.db.ds.query(`DELETE FROM vault.derived_tokens`);
      await rig.provider.reset();
      const results = await Promise.all(Array.from({ length: 10 }, () => release()));
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(new Set(results.map((r) => r.body.access_token)).size).toBe(1);
      expect((await rig.provider.stats()).token.refresh_token).toBe(1);
    });

    it('a derived token does not outlive the refresh token it came from: after the connection refreshes it is derived again', async () => {
      const before = (await release()).body.access_token;
      await rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second' WHERE subject = 'alice'`);
      await rig.provider.reset();
      const after = await release();
      expect(after.status).toBe(200);
      expect(after.body.access_token).not.toBe(before);
      expect(after.body.scopes).toEqual(['calendar.read']);
      // One refresh of the connection, one narrowing call.
      expect((await rig.provider.stats()).token.refresh_token).toBe(2);
      expect(await introspect(rig, after.body.access_token)).toMatchObject({ active: true, scope: 'calendar.read' });
    });

    it('a release body narrower than the grant gets a token for that set only', async () => {
      await setCeiling(rig, []);
      const r = await release({ scopes: ['openid', 'calendar.read'] });
      expect(r.status).toBe(200);
      expect(sorted(r.body.scopes)).toEqual(['calendar.read', 'openid']);
      expect(sorted((await introspect(rig, r.body.access_token)).scope!.split(' '))).toEqual(['calendar.read', 'openid']);
    });

    it('a provider answering a broader scope than asked → 403 scope_exceeds_policy; nothing released, nothing cached', async () => {
      await setCeiling(rig, ['calendar.write']);
      const canary = 'broad-token-canary-7f3a';
      await rig.provider.faults({
        next: [
          { status: 200, body: { access_token: canary, token_type: 'Bearer', expires_in: 3600, scope: 'calendar.write calendar.read' } },
        ],
      });
      const r = await release();
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('scope_exceeds_policy');
      expect(r.text).not.toContain(canary);
      const [event] = await auditOf(rig, 'credential.release');
      expect(event).toMatchObject({
        outcome: 'denied',
        reason: 'scope_exceeds_policy',
        details: expect.objectContaining({ narrowing: 'provider_broadened', answered: ['calendar.write', 'calendar.read'] }),
      });
      expect(await rig.v.db.ds.query(`SELECT 1 FROM vault.derived_tokens WHERE scopes = '{calendar.write}'`)).toEqual([]);
    });

    it('a ceiling that leaves nothing of the grant → 403 naming every granted scope (was: the full token with scopes [])', async () => {
      await setCeiling(rig, ['mail.read']);
      const r = await release();
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('scope_exceeds_policy');
      expect(sorted(r.body.excess_scopes)).toEqual(sorted(GRANT));
      expect(r.body.access_token).toBeUndefined();
    });

    it('a body asking beyond the ceiling → 403 scope_exceeds_policy naming the excess', async () => {
      await setCeiling(rig, ['calendar.read']);
      const r = await release({ scopes: ['calendar.read', 'calendar.write'] });
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ code: 'scope_exceeds_policy', excess_scopes: ['calendar.write'] });
    });

    it(
      'the same provider without downscoping in its entry → 403 scope_exceeds_policy, audited with granted, ceiling and ' +
        'excess; no provider call',
      async () => {
        const current = await rig.v.call('GET', `/v1/admin/integrations/${rig.integration}`, { token: rig.admin() });
        const {
          name: _n,
          kind: _k,
          has_client_secret: _h,
          created_at: _c,
          updated_at: _u,
          scopes_no_policy_allows: _s,
          ...config
        } = current.body;
        const put = await rig.v.call('PUT', `/v1/admin/integrations/${rig.integration}`, {
          token: rig.admin(),
          body: {
            ...config,
            client_secret: rig.provider.clientSecret,
            provider_options: { ...config.provider_options, downscope_on_refresh: false },
          },
        });
        expect(put.status).toBe(200);
        await rig.v.db.ds.query(`DELETE FROM vault.derived_tokens`);
        await rig.provider.reset();
        const r = await release();
        expect(r.status).toBe(403);
        expect(r.body.code).toBe('scope_exceeds_policy');
        expect(sorted(r.body.excess_scopes)).toEqual(sorted(GRANT.filter((s) => s !== 'calendar.read')));
        expect(r.body.detail).toContain('calendar.write');
        expect((await rig.provider.stats()).token.refresh_token).toBe(0);
        const [event] = await auditOf(rig, 'credential.release');
        expect(event).toMatchObject({
          outcome: 'denied',
          reason: 'scope_exceeds_policy',
          details: expect.objectContaining({ ceiling: ['calendar.read'], narrowing: 'provider_cannot_downscope' }),
        });
        expect(sorted(event.details.granted)).toEqual(sorted(GRANT));
        expect(sorted(event.details.excess)).toEqual(sorted(GRANT.filter((s) => s !== 'calendar.read')));
      },
    );

    it('consent asks only for scopes some policy could allow (plus what the vault needs); the admin sees the rest', async () => {
      await setCeiling(rig, ['calendar.read']);
      const admin = await rig.v.call('GET', `/v1/admin/integrations/${rig.integration}`, { token: rig.admin() });
      expect(sorted(admin.body.scopes_no_policy_allows)).toEqual(['calendar.write', 'email', 'offline_access', 'openid']);
      const ua = rig.browser();
      const consent = await openConsent(ua, (await createSession(rig, 'bob')).url);
      expect(consent.page).toContain('calendar.read');
      expect(consent.page).not.toContain('calendar.write');
      const authorize = new URL(await clickConnect(ua, consent));
      // openid stays: the account is identified by its ID token.
      expect(sorted(authorize.searchParams.get('scope')!.split(' '))).toEqual(['calendar.read', 'openid']);
    });
  });

  describe('a provider that rotates refresh tokens (and revokes the family on reuse)', () => {
    let rig: Rig;
    const release = () => rig.v.call('POST', `/v1/connections/${rig.integration}/token`, { token: rig.agentToken('alice') });
    beforeAll(async () => {
      rig = await startRig({
        mode: 'rotating',
        scopes: GRANT,
        providerOptions: { downscope_on_refresh: true, refresh_rotation: 'always' },
      });
      await connectOverHttp(rig, 'alice');
    });
    afterAll(() => rig?.close());

    it(
      'narrows through the refresher: the rotated refresh token is committed to the connection, the stored access token ' + 'kept',
      async () => {
        const primary = (await release()).body.access_token;
        const [before] = await rig.v.db.ds.query(`SELECT version FROM vault.connections WHERE subject = 'alice'`);
        await setCeiling(rig, ['calendar.read']);
        await rig.provider.reset();
        const r = await release();
        expect(r.status).toBe(200);
        expect(r.body.scopes).toEqual(['calendar.read']);
        expect(await introspect(rig, r.body.access_token)).toMatchObject({ active: true, scope: 'calendar.read' });
        expect((await rig.provider.stats()).token.refresh_token).toBe(1);
        const [after] = await rig.v.db.ds.query(`SELECT version, status, lease_owner FROM vault.connections WHERE subject = 'alice'`);
        expect(after).toMatchObject({ status: 'active', lease_owner: null });
        expect(Number(after.version)).toBe(Number(before.version) + 1);
        expect((await auditOf(rig, 'connection.refresh'))[0]).toMatchObject({
          outcome: 'allowed',
          details: expect.objectContaining({ rotated: true, narrowed_for: ['calendar.read'] }),
        });
        // The stored token is the same one, still valid at the provider.
        await setCeiling(rig, []);
        expect((await release()).body.access_token).toBe(primary);
      },
    );

    it('the committed refresh token is the live one: the next refresh succeeds (the old one would have revoked the family)', async () => {
      await rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second' WHERE subject = 'alice'`);
      await rig.provider.reset();
      const r = await release();
      expect(r.status).toBe(200);
      // The refreshed token's own scope set, as the provider answered it (it leaves offline_access out).
      expect(sorted(r.body.scopes)).toEqual(sorted((await introspect(rig, r.body.access_token)).scope!.split(' ')));
      expect(r.body.scopes).toContain('calendar.write');
      expect((await rig.provider.stats()).tokenErrors).toEqual({});
      // And narrowing again after that works too, to another scope set.
      await setCeiling(rig, ['openid', 'calendar.read']);
      const narrowed = await release();
      expect(narrowed.status).toBe(200);
      expect(sorted((await introspect(rig, narrowed.body.access_token)).scope!.split(' '))).toEqual(['calendar.read', 'openid']);
      // Only tokens derived from the live refresh token are kept (the calendar.read one came from a dead one).
      expect(await rig.v.db.ds.query(`SELECT scope_key FROM vault.derived_tokens`)).toEqual([{ scope_key: 'calendar.read openid' }]);
    });
  });
});
