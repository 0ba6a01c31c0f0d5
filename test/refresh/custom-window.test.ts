import { RefreshRig, startRefreshRig } from './support';

/**
 * Issue 16 point 6: a custom integration sets its own refresh windows in `provider_options`
 * (`refresh_ahead_seconds` for the worker, `refresh_release_ahead_seconds` for a release), like a
 * catalog entry's `refresh.aheadSeconds` / `refresh.releaseAheadSeconds`; validated when stored.
 */
describe('refresh windows of a custom integration', () => {
  let rig: RefreshRig;
  const q = (sql: string, params: unknown[] = []) => rig.v.db.ds.query(sql, params);
  /** `secondsLeft` left of an access token whose issue time is unknown (the whole release window applies). */
  const leave = (user: string, secondsLeft: number) =>
    q(`UPDATE vault.connections SET token_issued_at = NULL, expires_at = now() + make_interval(secs => $2) WHERE subject = $1`, [
      user,
      secondsLeft,
    ]);
  const setOption = (name: string, value: unknown) =>
    q(`UPDATE vault.integrations SET config = jsonb_set(config, $1::text[], $2::jsonb) WHERE name = $3`, [
      `{provider_options,${name}}`,
      JSON.stringify(value),
      rig.integration,
    ]);

  beforeAll(async () => {
    rig = await startRefreshRig({
      mode: 'google',
      users: ['erin'],
      providerOptions: { refresh_rotation: 'never', refresh_ahead_seconds: 1200, refresh_release_ahead_seconds: 600 },
    });
  }, 60_000);
  afterAll(() => rig?.close());

  it("schedules the worker's first refresh refresh_ahead_seconds before expiry", async () => {
    const [r] = await q(
      `SELECT EXTRACT(EPOCH FROM expires_at - next_refresh_at)::int AS ahead FROM vault.connections WHERE subject = 'erin'`,
    );
    expect(r.ahead).toBe(1200);
  });

  it('refreshes on release with less than refresh_release_ahead_seconds left, and not with more', async () => {
    await rig.provider.reset();
    await leave('erin', 700);
    const kept = await rig.release('erin');
    expect(kept.status).toBe(200);
    expect((await rig.provider.stats()).tokenRequests).toBe(0);

    await leave('erin', 400); // within 600 s; the default window (60 s) would release it as it is
    const refreshed = await rig.release('erin');
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(kept.body.access_token);
    expect((await rig.provider.stats()).tokenRequests).toBe(1);

    // Without the option the default window decides: 400 s left is not refreshed.
    await setOption('refresh_release_ahead_seconds', 60);
    await leave('erin', 400);
    const again = await rig.release('erin');
    expect(again.body.access_token).toBe(refreshed.body.access_token);
    expect((await rig.provider.stats()).tokenRequests).toBe(1);
  });

  it('refuses a window out of range with 400 validation_failed, naming the field', async () => {
    const [row] = await q(`SELECT config FROM vault.integrations WHERE name = $1`, [rig.integration]);
    const body = {
      provider: 'custom-oauth2',
      client_id: row.config.client_id,
      authorize_url: row.config.authorize_url,
      token_url: row.config.token_url,
      provider_options: { ...row.config.provider_options, refresh_release_ahead_seconds: 0 },
    };
    const r = await rig.v.call('PUT', `/v1/admin/integrations/${rig.integration}-2`, { token: rig.v.issuer.adminToken('acme'), body });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
    expect(r.body.errors).toEqual([expect.objectContaining({ field: 'provider_options.refresh_release_ahead_seconds' })]);
  });
});
