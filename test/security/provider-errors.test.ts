import { connectOverHttp, createSession, openConsent, clickConnect, CALLBACK, Rig, startRig } from '../connect/support';
import { LogCapture } from '../support/log-capture';

// Shaped like a token and like an error code (lower case and underscores), so no syntax check stops it.
const CANARY = 'rt_canary_refresh_token_qzxkwvjm';

/**
 * SECURITY 44, issue 14 §3: a provider's `error` value is mapped onto a closed set (RFC 6749/7009/
 * OIDC codes and the catalog entry's known ones, else `other`) before it is stored, labelled or
 * sent anywhere. A real authorization server (oidc-provider) answers the refresh, and the OAuth
 * callback, with `error` set to a canary: it appears nowhere — /metrics, the connection row,
 * audit, the webhook outbox, logs, responses.
 */
describe('provider error values are a closed set (real provider, real vault)', () => {
  const logs = new LogCapture();
  let rig: Rig;
  const seen: string[] = [];
  const release = (user: string) => rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken(user) });
  const expire = (user: string) =>
    rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second' WHERE subject = $1`, [user]);

  beforeAll(async () => {
    rig = await startRig({ mode: 'rotating', env: { LOG_LEVEL: 'debug' } });
    const hook = await rig.v.call('PUT', '/v1/admin/webhooks', {
      token: rig.admin(),
      body: { url: 'http://127.0.0.1:9/hook', events: ['*'] },
    });
    expect(hook.status).toBeLessThan(300);
    await connectOverHttp(rig, 'alice');
    await connectOverHttp(rig, 'bob');
    logs.start();
  });
  afterAll(async () => {
    logs.stop();
    await rig?.close();
  });

  it('refresh answered 400 {"error": <canary>} → transient `other`, 503, and the row says transient:other', async () => {
    await expire('alice');
    await rig.provider.faults({ next: [{ status: 400, body: { error: CANARY, error_description: CANARY } }] });
    const r = await release('alice');
    expect(r.status).toBe(503);
    seen.push(r.text);
    const [row] = await rig.v.db.ds.query(`SELECT last_error_class FROM vault.connections WHERE subject = 'alice'`);
    expect(row.last_error_class).toBe('transient:other');
  });

  it('refresh answered 200 {"error": <canary>} (GitHub style), and a standard code kept as it is', async () => {
    await expire('bob');
    await rig.provider.faults({ next: [{ status: 200, body: { error: CANARY } }] });
    seen.push((await release('bob')).text);
    await expire('bob');
    await rig.provider.faults({ next: [{ status: 400, body: { error: 'invalid_grant' } }] });
    const terminal = await release('bob');
    expect(terminal.body.code).toBe('needs_reauth');
    const [row] = await rig.v.db.ds.query(`SELECT last_error_class FROM vault.connections WHERE subject = 'bob'`);
    expect(row.last_error_class).toBe('terminal:invalid_grant');
  });

  it('the OAuth callback with error=<canary> → failed as `other`', async () => {
    const ua = rig.browser();
    const consent = await openConsent(ua, (await createSession(rig, 'carol')).url);
    const callback = new URL(await ua.authorizeAt(await clickConnect(ua, consent), CALLBACK, 'carol'));
    callback.searchParams.delete('code');
    callback.searchParams.set('error', CANARY);
    const hop = await ua.get(callback.toString());
    expect(hop.status).toBeLessThan(500);
    seen.push(hop.body, hop.location ?? '');
    const [event] = await rig.v.db.ds.query(
      `SELECT details FROM vault.audit_events WHERE action = 'connection.connect' AND subject = 'carol' ORDER BY seq DESC LIMIT 1`,
    );
    expect(event.details.provider_error).toBe('other');
  });

  it('the canary is nowhere: /metrics, connections, connect sessions, audit, webhook outbox, logs, responses', async () => {
    const metrics = await rig.v.call('GET', '/metrics');
    expect(metrics.text).toContain('error_class="other"');
    seen.push(metrics.text);
    logs.stop();
    for (const text of seen) expect(text).not.toContain(CANARY);
    expect(logs.lines.filter((l) => l.includes(CANARY))).toEqual([]);
    for (const table of ['connections', 'connect_sessions', 'audit_events', 'webhook_outbox']) {
      const rows: Array<{ row: string }> = await rig.v.db.ds.query(`SELECT t::text AS row FROM vault.${table} t`);
      expect([table, rows.filter((r) => r.row.includes(CANARY)).length]).toEqual([table, 0]);
    }
    const outbox: Array<{ row: string }> = await rig.v.db.ds.query(`SELECT t::text AS row FROM vault.webhook_outbox t`);
    expect(outbox.some((r) => r.row.includes('transient:other'))).toBe(true);
  });
});
