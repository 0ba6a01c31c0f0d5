import { asTenantId, Secret } from '../../libs/kernel';
import { OAuthCredentialStore } from '../../libs/connections';
import { INTEGRATION, StormRig, startStormRig, waitFor } from './storm-support';

/**
 * Issue 15's bound on the narrowing path (issue 14): a release asking for fewer scopes than the
 * connection's grant, from a provider that may rotate, narrows through the refresher under the row
 * lease. When that lease was another process's that died, the narrowing takes it over and its
 * caller waits no longer than REFRESH_RELEASE_WAIT_MS, as a plain refresh does (release-wait.test.ts):
 * then 503 while the narrowing call goes on and commits the rotated refresh token in the background.
 */
describe('a narrowing release while another process held the lease', () => {
  let rig: StormRig;
  const WAIT_MS = 1000;
  const T = asTenantId('acme');
  const GRANT = ['read', 'write'];
  const q = (sql: string, params: unknown[] = []) => rig.v.db.ds.query(sql, params);
  const store = () => rig.v.vault.app.get(OAuthCredentialStore);
  /** A connection for `user` holding the whole grant (the rig's own seed grants `read` only), with a fresh token. */
  const connect = async (user: string) => {
    const g = rig.provider.grant();
    const c = await store().put(T, INTEGRATION, user, {
      accessToken: Secret.of(g.accessToken),
      refreshToken: Secret.of(g.refreshToken),
      expiresAt: new Date(Date.now() + g.expiresIn * 1000),
      refreshTokenExpiresAt: null,
      scopes: GRANT,
      metadata: {},
    });
    return { id: c.id, access: g.accessToken, refresh: g.refreshToken };
  };
  const tokensOf = async (id: string) => {
    const t = await store().openTokens((await store().load(T, id))!);
    return { access: t.access?.reveal(), refresh: t.refresh?.reveal() };
  };
  /** A holder that died before its call started: its lease runs out 200 ms from now, no call mark; the token is still good. */
  const ghostDiesSoon = (user: string) =>
    q(`UPDATE vault.connections SET lease_owner = 'ghost:1:x', lease_expires_at = now() + interval '200 milliseconds' WHERE subject = $1`, [
      user,
    ]);
  const release = (user: string, body?: unknown) =>
    rig.v.call('POST', `/v1/connections/${INTEGRATION}/token`, {
      token: rig.v.issuer.agentToken({ tenant: 'acme', user, agent: 'mcp-1', integrations: [INTEGRATION] }),
      body,
    });

  beforeAll(async () => {
    rig = await startStormRig({
      graceSeconds: 0,
      env: { REFRESH_RELEASE_WAIT_MS: String(WAIT_MS), OUTBOUND_TIMEOUT_MS: '20000', REFRESH_LEASE_SECONDS: '30' },
    });
    // The same integration, granting two scopes, from a provider that honours `scope` on a refresh and rotates.
    const r = await rig.v.call('PUT', `/v1/admin/integrations/${INTEGRATION}`, {
      token: rig.v.issuer.adminToken('acme'),
      body: {
        provider: 'custom-oauth2',
        display_name: INTEGRATION,
        client_id: rig.provider.o.clientId,
        client_secret: rig.provider.o.clientSecret,
        authorize_url: `${rig.provider.url}/auth`,
        token_url: `${rig.provider.url}/token`,
        scopes: GRANT,
        return_urls: ['https://app.test.example/settings/'],
        provider_options: { refresh_rotation: 'always', refresh_reuse_grace_seconds: 0, downscope_on_refresh: true },
      },
    });
    if (r.status >= 300) throw new Error(`integration: ${r.status} ${r.text}`);
  }, 60_000);
  afterAll(() => rig?.close());

  it(
    'the narrowing takes the lease over, answers 503 once its wait budget is spent, and its one provider call commits the ' +
      'rotated refresh token in the background (the stored access token kept)',
    async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (err: unknown) => unhandled.push(err);
      process.on('unhandledRejection', onUnhandled);
      rig.provider.faults.delayMs = 2500; // the provider holds its answer longer than the release may wait
      try {
        const c = await connect('n0');
        const family = rig.provider.familyOf(c.refresh)!;
        await ghostDiesSoon('n0');
        const requests = rig.provider.stats.requests;
        const began = Date.now();
        const r = await release('n0', { scopes: ['read'] });
        const took = Date.now() - began;
        expect(r.status).toBe(503);
        expect(r.body.code ?? r.body.type).toMatch(/unavailable/);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(r.text).not.toContain(c.access);
        expect(took).toBeGreaterThanOrEqual(WAIT_MS - 50);
        expect(took).toBeLessThan(WAIT_MS + 1000);
        // The narrowing took the call over: it is on its way to the provider, under this process's lease.
        await waitFor('the narrowing call taken over', () => rig.provider.stats.requests === requests + 1);
        expect((await rig.row('n0')).lease_owner).not.toBe('ghost:1:x');

        const committed = await waitFor('the background narrowing to commit', async () => {
          const row = await rig.row('n0');
          return row.lease_owner === null && (await tokensOf(c.id)).refresh !== c.refresh && row;
        });
        expect(committed).toMatchObject({ status: 'active', refresh_call_started_at: null, last_error_class: null });
        // One call for the row: it rotated the family once, and the row holds the token it rotated to.
        expect(rig.provider.stats.requests).toBe(requests + 1);
        expect(family.previous.size).toBe(1);
        expect(await tokensOf(c.id)).toEqual({ access: c.access, refresh: family.current });
        const [audit] = await q(
          `SELECT details FROM vault.audit_events WHERE action = 'connection.refresh' AND outcome = 'allowed' ` +
            `AND details->>'connection' = $1 ORDER BY seq DESC LIMIT 1`,
          [c.id],
        );
        expect(audit?.details).toMatchObject({ rotated: true, narrowed_for: ['read'] });
        const [unavailableAudit] = await q(
          `SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'credential.release' AND reason = 'provider_unavailable' ` +
            `AND subject = 'n0'`,
        );
        expect(unavailableAudit.n).toBe(1);

        // The next narrowing release presents the committed refresh token: a narrowed token, the family intact.
        rig.provider.faults.delayMs = 0;
        const after = await release('n0', { scopes: ['read'] });
        expect(after.status).toBe(200);
        expect(after.body.scopes).toEqual(['read']);
        expect(after.body.access_token).not.toBe(c.access);
        expect(rig.provider.access.has(after.body.access_token)).toBe(true);
        expect(rig.provider.stats.requests).toBe(requests + 2);
        expect(family.revoked).toBe(false);
        expect(rig.provider.stats.reuseRevocations).toBe(0);
        // And the whole grant is still the stored access token.
        const whole = await release('n0');
        expect(whole).toMatchObject({ status: 200, body: expect.objectContaining({ access_token: c.access }) });

        // A narrowing taken over that ends in a refusal after its caller left: the row is flagged, nothing is left unhandled.
        rig.provider.faults.delayMs = 2500;
        const d = await connect('n1');
        rig.provider.familyOf(d.refresh)!.revoked = true;
        await ghostDiesSoon('n1');
        const r1 = await release('n1', { scopes: ['read'] });
        expect(r1.status).toBe(503);
        await waitFor('the background narrowing to end', async () => (await rig.row('n1')).status === 'needs_reauth');
        expect((await release('n1', { scopes: ['read'] })).status).toBe(409);
        await new Promise((resolve) => setImmediate(resolve));
        expect(unhandled).toEqual([]);
      } finally {
        rig.provider.faults.delayMs = 0;
        process.off('unhandledRejection', onUnhandled);
      }
    },
    30_000,
  );
});
