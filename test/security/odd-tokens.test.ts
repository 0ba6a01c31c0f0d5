import { sign as cryptoSign } from 'node:crypto';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from '../../libs/token-service';
import { startTestVault, TestVault } from '../support/vault';

/**
 * SECURITY 42, 43 and 53's last clause (issue 14 §4, issue 22): tokens from a trusted issuer,
 * correctly signed, with odd claim values → 401 on every route (release, admin, dashboard), the
 * OAuth error at the token endpoint, audited, never a 500; a malformed `act` is never "no act";
 * `Authorization` exactly `Bearer <token68>`; lifetimes bounded; admin calls refuse `act`.
 */
describe('odd tokens on every route (real vault, real Postgres)', () => {
  let v: TestVault;
  let secret: string;
  const T = 'acme';

  beforeAll(async () => {
    v = await startTestVault();
    const a = v.issuer.adminToken(T);
    for (const [path, body] of [
      ['/v1/admin/integrations/openai', { provider: 'api_key' }],
      ['/v1/admin/policies/p', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' }],
      ['/v1/admin/connections/openai/users/alice', { api_key: 'sk-canary-alice' }],
    ] as const)
      expect((await v.call('PUT', path, { token: a, body })).status).toBe(201);
    const agent = await v.call('PUT', '/v1/admin/agents/mcp-1', { token: a, body: { name: 'MCP', auth_method: 'client_secret_basic' } });
    expect(agent.status).toBe(201);
    secret = agent.body.client_secret;
  });
  afterAll(() => v?.close());

  const ODD: Array<[string, string]> = [
    ['NUL', 'ali\u0000ce'],
    ['ESC', 'ali\u001bce'],
    ['C1 NEL', 'ali\u0085ce'],
    ['lone high surrogate', 'alice\ud800'],
    ['lone low surrogate', '\udc00alice'],
    ['256 characters', 'a'.repeat(256)],
  ];
  const agentClaims = { sub: 'alice', tid: T, act: { sub: 'mcp-1' }, scope: 'connections:openai' };
  const adminClaims = { sub: 'admin@acme', tid: T, scope: 'vault:admin' };
  const places: Record<string, (v: string) => Record<string, unknown>> = {
    sub: (x) => ({ sub: x }),
    'act.sub': (x) => ({ act: { sub: x } }),
    tid: (x) => ({ tid: x }),
    client_id: (x) => ({ client_id: x }),
  };

  const release = (token: string, headers: Record<string, string> = { authorization: `Bearer ${token}` }) =>
    fetch(`${v.url}/v1/connections/openai/token`, { method: 'POST', headers }).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));
  const tokenEndpoint = async (params: Record<string, string>, headers: Record<string, string> = {}) => {
    for (;;) {
      const r = await fetch(`${v.url}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(params).toString(),
      });
      const text = await r.text();
      // Many requests as one client: a 429 is waited out; the limiter is not what this tests.
      if (r.status === 429) await new Promise((res) => setTimeout(res, Number(r.headers.get('retry-after') ?? 1) * 1000));
      else return { status: r.status, body: JSON.parse(text), text };
    }
  };
  const basic = () => ({ authorization: `Basic ${Buffer.from(`mcp-1:${encodeURIComponent(secret)}`).toString('base64')}` });
  const exchangeParams = (subject: string, extra: Record<string, string> = {}) => ({
    grant_type: TOKEN_EXCHANGE_GRANT,
    subject_token: subject,
    subject_token_type: TOKEN_TYPES.accessToken,
    scope: 'connections:openai',
    ...extra,
  });
  const denials = async (reason: string): Promise<number> =>
    Number((await v.db.ds.query(`SELECT count(*) AS n FROM vault.audit_events WHERE outcome = 'denied' AND reason = $1`, [reason]))[0].n);

  /** RS256 by the test issuer over payload JSON text (for values JSON.stringify cannot write, e.g. 1e999). */
  const signText = (payloadJson: string) => {
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: v.issuer.kid })).toString('base64url');
    const input = `${header}.${Buffer.from(payloadJson).toString('base64url')}`;
    return `${input}.${cryptoSign('sha256', Buffer.from(input), v.issuer.privateKey).toString('base64url')}`;
  };

  it.each(ODD)('%s in sub, act.sub, tenant or client_id: release 401 invalid_token, audited, nothing released', async (_what, odd) => {
    for (const [where, put] of Object.entries(places)) {
      const before = await denials('invalid_token');
      const r = await release(v.issuer.sign({ ...agentClaims, ...put(odd) }));
      expect([where, r.status, JSON.parse(r.text).code]).toEqual([where, 401, 'invalid_token']);
      expect(r.text).not.toContain('sk-canary');
      expect(await denials('invalid_token')).toBe(before + 1);
    }
  });

  it.each(ODD)('%s in sub, tenant or client_id of an admin token: admin API and dashboard 401, audited', async (_what, odd) => {
    for (const [where, put] of Object.entries(places).filter(([w]) => w !== 'act.sub')) {
      const token = v.issuer.sign({ ...adminClaims, ...put(odd) });
      const before = await denials('invalid_token');
      const admin = await v.call('GET', '/v1/admin/integrations', { token });
      expect([where, admin.status, admin.body?.code]).toEqual([where, 401, 'invalid_token']);
      const dash = await fetch(`${v.url}/dashboard`, { headers: { authorization: `Bearer ${token}` } });
      expect([where, dash.status]).toEqual([where, 401]);
      expect(await denials('invalid_token')).toBe(before + 2);
    }
  });

  it.each(ODD)(
    '%s at the token endpoint: subject or actor token → invalid_request; client assertion sub → invalid_client; audited',
    async (_what, odd) => {
      for (const [where, put] of Object.entries(places)) {
        const r = await tokenEndpoint(exchangeParams(v.issuer.sign({ sub: 'alice', tid: T, ...put(odd) })), basic());
        expect([where, r.status, r.body.error]).toEqual([where, 400, 'invalid_request']);
      }
      const actor = await tokenEndpoint(
        exchangeParams(v.issuer.sign({ sub: 'alice', tid: T }), {
          actor_token: v.issuer.sign({ sub: odd, tid: T }),
          actor_token_type: TOKEN_TYPES.jwt,
        }),
        basic(),
      );
      expect([actor.status, actor.body.error]).toEqual([400, 'invalid_request']);
      const assertion = v.issuer.sign({ iss: odd, sub: odd, aud: `${v.url}/oauth2/token` });
      const before = await v.db.ds.query(
        `SELECT count(*) AS n FROM vault.audit_events WHERE action = 'token.exchange' AND reason = 'invalid_client'`,
      );
      const client = await tokenEndpoint(
        exchangeParams(v.issuer.sign({ sub: 'alice', tid: T }), {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }),
      );
      expect([client.status, client.body.error]).toEqual([401, 'invalid_client']);
      const after = await v.db.ds.query(
        `SELECT count(*) AS n FROM vault.audit_events WHERE action = 'token.exchange' AND reason = 'invalid_client'`,
      );
      expect(Number(after[0].n)).toBe(Number(before[0].n) + 1);
    },
  );

  it('a malformed act is an invalid token on release and at the token endpoint, never "no act"', async () => {
    for (const act of ['mcp-1', ['mcp-1'], {}, { sub: '' }, null, { sub: 'mcp-1', act: 'x' }]) {
      const r = await release(v.issuer.sign({ ...agentClaims, act }));
      expect([JSON.stringify(act), r.status]).toEqual([JSON.stringify(act), 401]);
      // As a subject token, a malformed act would have skipped the delegation bound (issuance-policy `not_delegated`).
      const x = await tokenEndpoint(exchangeParams(v.issuer.sign({ sub: 'alice', tid: T, act, scope: 'connections:other' })), basic());
      expect([JSON.stringify(act), x.status, x.body.error]).toEqual([JSON.stringify(act), 400, 'invalid_request']);
    }
  });

  it('Authorization must be exactly "Bearer <token68>"', async () => {
    const t = v.issuer.sign(agentClaims);
    expect((await release(t)).status).toBe(200);
    const admin = v.issuer.sign(adminClaims);
    for (const header of [`Bearer  ${t}`, `Bearer ${t} x`, `Bearer ${t},x`, `Bearer\t${t}`, `Token ${t}`, `Bearer ${t}!`]) {
      const before = await denials('invalid_token');
      const r = await release(t, { authorization: header });
      expect([header.slice(0, 8), r.status, JSON.parse(r.text).code]).toEqual([header.slice(0, 8), 401, 'invalid_token']);
      const adminHeader = header.replace(t, admin);
      expect((await v.call('GET', '/v1/admin/integrations', { headers: { authorization: adminHeader } })).status).toBe(401);
      expect((await fetch(`${v.url}/dashboard`, { headers: { authorization: adminHeader } })).status).toBe(401);
      expect(await denials('invalid_token')).toBe(before + 3);
    }
  });

  it('external tokens: exp a finite integer, lifetime at most VAULT_MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS (86400)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const base =
      `"iss":"${v.issuer.issuer}","aud":"${v.issuer.audience}",` +
      `"sub":"alice","tid":"${T}","act":{"sub":"mcp-1"},"scope":"connections:openai"`;
    for (const exp of ['1e999', `${now + 60}.5`, '9007199254740993'])
      expect((await release(signText(`{${base},"iat":${now},"exp":${exp}}`))).status).toBe(401);
    expect((await release(signText(`{${base},"iat":${now},"exp":${now + 86401}}`))).status).toBe(401);
    expect((await release(signText(`{${base},"exp":${now + 90000}}`))).status).toBe(401);
    expect((await release(signText(`{${base},"iat":${now},"exp":${now + 86400}}`))).status).toBe(200);
  });

  it('admin API and dashboard refuse a vault:admin token carrying act: 403 not_a_user_token, audited (issue 22)', async () => {
    const token = v.issuer.sign({ ...adminClaims, act: { sub: 'mcp-1' } });
    const before = await denials('not_a_user_token');
    const admin = await v.call('GET', '/v1/admin/integrations', { token });
    expect([admin.status, admin.body.code]).toEqual([403, 'not_a_user_token']);
    const dash = await fetch(`${v.url}/dashboard`, { headers: { authorization: `Bearer ${token}` } });
    expect(dash.status).toBe(403);
    expect(await denials('not_a_user_token')).toBe(before + 2);
    const [event] = await v.db.ds.query(
      `SELECT tenant, agent, subject, action FROM vault.audit_events WHERE reason = 'not_a_user_token' ORDER BY seq DESC LIMIT 1`,
    );
    expect(event).toEqual({ tenant: T, agent: 'mcp-1', subject: 'admin@acme', action: 'admin.access' });
    // The same token without act is an admin.
    expect((await v.call('GET', '/v1/admin/integrations', { token: v.issuer.sign(adminClaims) })).status).toBe(200);
  });

  it('the token service never issues vault:* scopes', async () => {
    const subject = v.issuer.sign({ sub: 'alice', tid: T, scope: 'vault:admin vault:operator' });
    const only = await tokenEndpoint({ ...exchangeParams(subject), scope: 'vault:admin vault:operator' }, basic());
    expect([only.status, only.body.error]).toEqual([400, 'invalid_scope']);
    const mixed = await tokenEndpoint({ ...exchangeParams(subject), scope: 'vault:admin connections:openai vault:operator' }, basic());
    expect([mixed.status, mixed.body.scope]).toEqual([200, 'connections:openai']);
    const payload = JSON.parse(Buffer.from(mixed.body.access_token.split('.')[1], 'base64url').toString());
    expect(payload.scope).toBe('connections:openai');
    // And the issued token, which carries act, is no admin token either.
    const admin = await v.call('GET', '/v1/admin/integrations', { token: mixed.body.access_token });
    expect([admin.status, admin.body.code]).toEqual([403, 'not_a_user_token']);
  });
});
