import { LogCapture } from '../support/log-capture';
import { CALLBACK, clickConnect, connectOverHttp, createSession, openConsent, Rig, startRig } from './support';

const ACCESS = 'at-canary-5e0c77d1a9';
const REFRESH = 'rt-canary-90b1f3c2e4';

/**
 * SECURITY 26 for the connect paths: canaries (client secret, provider-issued tokens, provider
 * error text echoing them, authorization codes) through every new error path — provider errors
 * on code exchange and refresh, network failures with secrets in the request body, a database
 * error while storing the credential — appear in no log line, page, problem body or audit record.
 */
describe('nothing leaked through the connect error paths (SECURITY 26)', () => {
  const logs = new LogCapture();
  let rig: Rig;
  let canaries: string[];
  const seen: string[] = [];
  const leaked = (text: string) => canaries.filter((c) => text.includes(c));

  async function callbackFor(user: string) {
    const ua = rig.browser();
    const consent = await openConsent(ua, (await createSession(rig, user)).url);
    const callback = await ua.authorizeAt(await clickConnect(ua, consent), CALLBACK, user);
    return { ua, callback };
  }

  beforeAll(async () => {
    rig = await startRig({ mode: 'google', env: { LOG_LEVEL: 'debug' } });
    canaries = [rig.provider.clientSecret, ACCESS, REFRESH];
    logs.start();
  });
  afterAll(async () => {
    logs.stop();
    await rig?.close();
  });

  it('the code exchange fails with the secret echoed in error_description → 400 page with the code only', async () => {
    const { ua, callback } = await callbackFor('alice');
    canaries.push(new URL(callback).searchParams.get('code')!);
    await rig.provider.faults({
      next: [
        {
          status: 401,
          body: {
            error: 'invalid_client',
            error_description: `client_secret ${rig.provider.clientSecret} is wrong; code ${new URL(callback).searchParams.get('code')}`,
          },
        },
      ],
    });
    const hop = await ua.get(callback);
    expect(hop.status).toBe(400);
    expect(hop.body).toContain('invalid_client');
    seen.push(hop.body);
  });

  it('a provider 5xx whose body carries the canaries → 503 page', async () => {
    const { ua, callback } = await callbackFor('bob');
    await rig.provider.faults({
      next: [{ status: 502, body: { error: 'server_error', access_token: ACCESS, echo: rig.provider.clientSecret } }],
    });
    const hop = await ua.get(callback);
    expect(hop.status).toBe(503);
    seen.push(hop.body);
  });

  it('a database error while storing the provider-issued tokens → opaque 500 page; tokens nowhere', async () => {
    const { ua, callback } = await callbackFor('carol');
    await rig.provider.faults({
      next: [{ status: 200, body: { access_token: ACCESS, refresh_token: REFRESH, token_type: 'Bearer', expires_in: 3600 } }],
    });
    await rig.v.db.ds.query(`ALTER TABLE vault.connections ADD CONSTRAINT leak_probe CHECK (false) NOT VALID`);
    try {
      const hop = await ua.get(callback);
      expect(hop.status).toBe(500);
      expect(hop.body).toMatch(/quote error [0-9a-f-]{36}/);
      seen.push(hop.body);
    } finally {
      await rig.v.db.ds.query(`ALTER TABLE vault.connections DROP CONSTRAINT leak_probe`);
    }
  });

  it('refresh errors with the canaries in the provider body → 409 / 503 problems without them', async () => {
    await connectOverHttp(rig, 'dave');
    const release = () => rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken('dave') });
    const expire = () => rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second' WHERE subject = 'dave'`);
    await expire();
    await rig.provider.faults({
      next: [{ status: 503, body: { error: 'temporarily_unavailable', error_description: `${REFRESH} ${rig.provider.clientSecret}` } }],
    });
    const transient = await release();
    expect(transient.status).toBe(503);
    await rig.provider.faults({
      next: [{ status: 400, body: { error: 'invalid_grant', error_description: `refresh token ${REFRESH} revoked` } }],
    });
    const terminal = await release();
    expect(terminal.status).toBe(409);
    seen.push(transient.text, terminal.text);
  });

  it('the token endpoint unreachable (connection refused) while the request body holds the client secret → 503', async () => {
    await rig.v.call('PUT', '/v1/admin/integrations/calendar', {
      token: rig.admin(),
      body: {
        provider: 'custom-oauth2',
        client_id: rig.provider.clientId,
        authorize_url: `${rig.provider.url}/auth`,
        token_url: 'http://127.0.0.1:9/token',
        scopes: ['openid', 'offline_access'],
        return_urls: ['https://app.test.example/settings/'],
        provider_options: {
          issuer: rig.provider.issuer,
          require_iss: true,
          token_auth_method: 'client_secret_post',
          authorize_params: { access_type: 'offline', prompt: 'consent' },
        },
      },
    });
    const { ua, callback } = await callbackFor('erin');
    const hop = await ua.get(callback);
    expect(hop.status).toBe(503);
    seen.push(hop.body);
  });

  it('no canary in any page, problem body, log line or audit record', async () => {
    logs.stop();
    for (const text of seen) expect(leaked(text)).toEqual([]);
    expect(logs.lines.filter((l) => leaked(l).length > 0)).toEqual([]);
    const audit = await rig.v.db.ds.query(`SELECT t::text AS row FROM vault.audit_events t`);
    expect(audit.length).toBeGreaterThan(5);
    for (const { row } of audit) expect(leaked(row)).toEqual([]);
    const reasons = audit.map((a: { row: string }) => a.row).join('\n');
    expect(reasons).toContain('invalid_client');
    expect(reasons).toContain('outbound_network');
    expect(reasons).toContain('store_failed');
  });
});
