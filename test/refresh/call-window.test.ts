import { freePort } from '../support/net';
import { StormRig, startStormRig } from './storm-support';

/**
 * Issue 15, `needlessStartedUnseen`: a SIGKILL after the call-start mark committed but before the
 * request reached the provider leaves a row a successor must flag (the vault cannot tell it from a
 * call the provider processed). The refresher now opens the connection to the token endpoint (name,
 * address check, connect, TLS) before it writes the mark, and sends on that connection once the mark
 * is in: the window is the mark's reply. A token endpoint that cannot be reached is a transient
 * failure with no mark at all. Real parts: the rotating token endpoint over HTTP, Postgres; a trigger
 * holds the mark's write for half a second so that "before the mark" is not a race.
 */
describe('the call-start mark, between connecting and sending', () => {
  let rig: StormRig;
  const q = (sql: string, params: unknown[] = []) => rig.v.db.ds.query(sql, params);

  beforeAll(async () => {
    rig = await startStormRig({ graceSeconds: 0 });
    await rig.seed(1);
    // Every mark written, as it is written (a log the refresher knows nothing of).
    await q(`CREATE TABLE vault.test_marks (subject text, at timestamptz)`);
    await q(`CREATE FUNCTION vault.test_mark() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO vault.test_marks VALUES (NEW.subject, clock_timestamp()); PERFORM pg_sleep(0.5); RETURN NEW; END $$`);
    await q(`CREATE TRIGGER test_mark BEFORE UPDATE ON vault.connections FOR EACH ROW
      WHEN (OLD.refresh_call_started_at IS NULL AND NEW.refresh_call_started_at IS NOT NULL) EXECUTE FUNCTION vault.test_mark()`);
  }, 60_000);
  afterAll(() => rig?.close());

  it('the provider sees the connection before the mark is in the row, and the request only after it', async () => {
    const looks: Array<Promise<[string, unknown]>> = [];
    const look = (when: string) =>
      looks.push(
        q(`SELECT refresh_call_started_at FROM vault.connections WHERE subject = 'u0'`).then(([r]) => [when, r.refresh_call_started_at]),
      );
    rig.provider.probes = { connection: () => look('connection'), request: () => look('request') };
    rig.provider.faults.delayMs = 300; // the row is looked at before the commit clears the mark
    try {
      await q(`UPDATE vault.connections SET expires_at = now() - interval '5 seconds' WHERE subject = 'u0'`);
      const r = await rig.release('u0');
      expect(r.status).toBe(200);
      expect(r.body.access_token).not.toBe(rig.accessOf.u0);
      expect(await Promise.all(looks)).toEqual([
        ['connection', null],
        ['request', expect.any(Date)],
      ]);
    } finally {
      rig.provider.probes = {};
      rig.provider.faults.delayMs = 0;
    }
  });

  it('a token endpoint that cannot be reached: no mark written, nothing sent, the token kept; 503 with Retry-After', async () => {
    const port = await freePort(); // nothing listens there
    const admin = rig.v.issuer.adminToken('acme');
    const put = async (path: string, body: unknown) =>
      expect((await rig.v.call('PUT', path, { token: admin, body })).status).toBeLessThan(300);
    await put('/v1/admin/integrations/ledger-down', {
      provider: 'custom-oauth2',
      display_name: 'ledger-down',
      client_id: rig.provider.o.clientId,
      client_secret: rig.provider.o.clientSecret,
      authorize_url: `${rig.provider.url}/auth`,
      token_url: `http://127.0.0.1:${port}/token`,
      scopes: ['read'],
      return_urls: ['https://app.test.example/settings/'],
      provider_options: { refresh_rotation: 'always', refresh_reuse_grace_seconds: 0 },
    });
    await put('/v1/admin/policies/assistant-ledger-down', { agents: ['mcp-1'], integrations: ['ledger-down'], effect: 'allow' });
    await rig.seed(1, { integration: 'ledger-down', prefix: 'd', expiresIn: () => -5 });

    const r = await rig.releaseOf('ledger-down', 'd0');
    expect(r.status).toBe(503);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.text).not.toContain(rig.accessOf.d0);
    expect(await q(`SELECT * FROM vault.test_marks WHERE subject = 'd0'`)).toEqual([]);
    expect(await rig.row('d0')).toMatchObject({
      status: 'active',
      lease_owner: null,
      refresh_call_started_at: null,
      last_error_class: 'transient:outbound_network',
      refresh_failures: 1,
    });
  });
});
