import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from '../../libs/token-service';
import { basic, form, release, RevocationWorld, startRevocationWorld } from '../revocation/support';
import { DpopKey } from './support';

const claimsOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());

/**
 * Issue 18 §5, "or policies requiring it": an allow policy with `require_dpop: true` makes the token
 * endpoint issue only DPoP-bound tokens for what it decides, whatever the agent's registration; a
 * request without a proof is refused whole with `invalid_dpop_proof`, audited.
 */
describe('policies requiring DPoP (require_dpop)', () => {
  let w: RevocationWorld;
  let key: DpopKey;
  const exchange = (scope: string, headers: Record<string, string> = {}) =>
    form(
      w.v,
      '/oauth2/token',
      { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: w.user('alice'), subject_token_type: TOKEN_TYPES.accessToken, scope },
      { ...basic('mcp-1', w.secrets['mcp-1']), ...headers },
    );
  const lastExchange = async () =>
    (await w.v.db.ds.query(`SELECT outcome, reason, details FROM vault.audit_events WHERE action = 'token.exchange' ORDER BY seq DESC`))[0];

  beforeAll(async () => {
    w = await startRevocationWorld();
    key = await DpopKey.create();
    const put = (path: string, body: unknown) => w.v.call('PUT', path, { token: w.admin(), body });
    expect((await put('/v1/admin/integrations/calendar', { provider: 'api_key' })).status).toBe(201);
    expect((await put('/v1/admin/connections/calendar/users/alice', { api_key: 'cal-alice' })).status).toBeLessThan(300);
    const policy = await put('/v1/admin/policies/calendar-bound', {
      agents: ['mcp-1'],
      integrations: ['calendar'],
      effect: 'allow',
      require_dpop: true,
    });
    expect(policy.status).toBe(201);
  });
  afterAll(() => w?.close());

  it('the admin API keeps the field and audits it; a deny policy may not carry it', async () => {
    const list = await w.v.call('GET', '/v1/admin/policies', { token: w.admin() });
    const bound = (list.body.policies ?? list.body).find((p: { name: string }) => p.name === 'calendar-bound');
    expect(bound).toMatchObject({ require_dpop: true });
    const [put] = await w.v.db.ds.query(`SELECT details FROM vault.audit_events WHERE action = 'policy.put' ORDER BY seq DESC`);
    expect(put.details).toMatchObject({ policy: 'calendar-bound', require_dpop: true });
    const deny = await w.v.call('PUT', '/v1/admin/policies/no-dpop-deny', {
      token: w.admin(),
      body: { agents: ['mcp-1'], integrations: ['calendar'], effect: 'deny', require_dpop: true },
    });
    expect(deny.status).toBe(400);
    expect(JSON.stringify(deny.body)).toContain('require_dpop');
  });

  it('no proof → 400 invalid_dpop_proof naming the policy, audited; a proof → a bound token', async () => {
    const refused = await exchange('connections:calendar');
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ error: 'invalid_dpop_proof', error_description: expect.stringContaining('calendar-bound') });
    expect(await lastExchange()).toMatchObject({ outcome: 'denied', reason: 'invalid_dpop_proof' });

    const res = await exchange('connections:calendar', { dpop: await key.proof('POST', '/oauth2/token') });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'DPoP', scope: 'connections:calendar' });
    expect(claimsOf(res.body.access_token).cnf).toEqual({ jkt: key.jkt });
    expect((await lastExchange()).details).toMatchObject({ dpop_jkt: key.jkt });
  });

  it('scopes whose policies do not require it stay Bearer; one requiring scope in the request requires the proof', async () => {
    const plain = await exchange('connections:openai');
    expect([plain.status, plain.body.token_type]).toEqual([200, 'Bearer']);
    const mixed = await exchange('connections:openai connections:calendar');
    expect([mixed.status, mixed.body.error]).toEqual([400, 'invalid_dpop_proof']);
  });

  it('another agent the requiring policy does not name is not affected by it', async () => {
    await w.v.call('PUT', '/v1/admin/policies/calendar-mcp2', {
      token: w.admin(),
      body: { agents: ['mcp-2'], integrations: ['calendar'], effect: 'allow' },
    });
    const res = await form(
      w.v,
      '/oauth2/token',
      {
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: w.user('alice'),
        subject_token_type: TOKEN_TYPES.accessToken,
        scope: 'connections:calendar',
      },
      basic('mcp-2', w.secrets['mcp-2']),
    );
    expect([res.status, res.body.token_type]).toEqual([200, 'Bearer']);
  });

  it('release decides again: a Bearer token issued before its policy came to require DPoP is refused 401 invalid_dpop_proof', async () => {
    const plain = await exchange('connections:openai');
    expect((await release(w.v, plain.body.access_token)).status).toBe(200);
    const put = await w.v.call('PUT', '/v1/admin/policies/agents-openai', {
      token: w.admin(),
      body: { agents: ['mcp-1', 'mcp-2'], integrations: ['openai'], effect: 'allow', require_dpop: true },
    });
    expect(put.status).toBe(200);
    const refused = await release(w.v, plain.body.access_token);
    expect([refused.status, refused.body.code]).toEqual([401, 'invalid_dpop_proof']);
    expect(refused.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);
    const [event] = await w.v.db.ds.query(
      `SELECT outcome, reason, details FROM vault.audit_events WHERE action = 'credential.release' ORDER BY seq DESC`,
    );
    expect(event).toMatchObject({ outcome: 'denied', reason: 'invalid_dpop_proof', details: { dpop_required_by: ['agents-openai'] } });
  });
});
