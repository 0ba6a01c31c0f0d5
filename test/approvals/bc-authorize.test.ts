import { DpopKey } from '../dpop/support';
import { startTestVault, TestVault } from '../support/vault';
import { basic, postForm } from './support';

const T = 'acme';
const CIBA = 'urn:openid:params:grant-type:ciba';

/**
 * Issue 17 §3, bad input: policies with nonsensical approval fields, malformed or unauthorised
 * backchannel requests, and polls for unknown or someone else's requests. Each is refused with the
 * RFC 6749 / CIBA error that names the problem, and changes nothing. No SMTP here: the webhook
 * would be the only channel, and asking still works.
 */
describe('CIBA: bad input at bc-authorize and when polling', () => {
  let v: TestVault;
  let secret1: string;
  let secret2: string;
  const admin = () => v.issuer.adminToken(T);
  const user = (sub = 'alice') => v.issuer.sign({ sub, tid: T });
  const ask = (params: Record<string, string | undefined>, headers: Record<string, string> = basic('mcp-1', secret1)) =>
    postForm(`${v.url}/oauth2/bc-authorize`, { scope: 'connections:openai', login_hint_token: user(), ...params }, headers);
  const poll = (authReqId: string | undefined, headers = basic('mcp-1', secret1)) =>
    postForm(`${v.url}/oauth2/token`, { grant_type: CIBA, auth_req_id: authReqId }, headers);
  const putPolicy = (name: string, body: Record<string, unknown>) => v.call('PUT', `/v1/admin/policies/${name}`, { token: admin(), body });

  beforeAll(async () => {
    v = await startTestVault({ VAULT_PUBLIC_URL: 'https://vault.test.example' });
    const put = async (path: string, body: unknown) => {
      const r = await v.call('PUT', path, { token: admin(), body });
      if (r.status >= 300) throw new Error(`PUT ${path}: ${r.status} ${r.text}`);
      return r.body;
    };
    await put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await put('/v1/admin/integrations/github-key', { provider: 'api_key' });
    secret1 = (await put('/v1/admin/agents/mcp-1', { name: 'One', auth_method: 'client_secret_basic' })).client_secret;
    secret2 = (await put('/v1/admin/agents/mcp-2', { name: 'Two', auth_method: 'client_secret_basic' })).client_secret;
    await put('/v1/admin/policies/approve', { agents: ['*'], integrations: ['openai'], effect: 'allow', require_approval: true });
  }, 60_000);
  afterAll(async () => {
    await v?.close();
  });

  it('policies: approval fields only on an allow that requires approval; approvers is "user"', async () => {
    for (const [body, field] of [
      [{ effect: 'deny', require_approval: true }, 'require_approval'],
      [{ effect: 'allow', approval_ttl_seconds: 600 }, 'approval_ttl_seconds'],
      [{ effect: 'allow', approvers: 'user' }, 'approvers'],
      [{ effect: 'allow', require_approval: true, approvers: 'admins' }, 'approvers'],
      [{ effect: 'allow', require_approval: true, approval_ttl_seconds: 10 }, 'approval_ttl_seconds'],
      [{ effect: 'allow', require_approval: 'yes' }, 'require_approval'],
    ] as const) {
      const r = await putPolicy('bad', { agents: ['*'], integrations: ['openai'], ...body });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('validation_failed');
      expect(JSON.stringify(r.body.errors)).toContain(field);
    }
    const listed = await v.call('GET', '/v1/admin/policies', { token: admin() });
    expect(listed.body.policies.map((p: { name: string }) => p.name)).toEqual(['approve']);
    expect(listed.body.policies[0]).toMatchObject({ require_approval: true, approval_ttl_seconds: null, approvers: 'user' });
  });

  it('bc-authorize: client authentication, the user hint, scopes, binding_message, details and expiry are checked', async () => {
    const cases: Array<[Record<string, string | undefined>, Record<string, string> | undefined, number, string, RegExp?]> = [
      [{}, {}, 401, 'invalid_client'],
      [{}, basic('mcp-1', 'wrong'), 401, 'invalid_client'],
      [{ login_hint_token: undefined, login_hint: 'alice' }, undefined, 400, 'invalid_request', /login_hint is not accepted/],
      [{ id_token_hint: 'x' }, undefined, 400, 'invalid_request', /exactly one/],
      [{ login_hint_token: undefined }, undefined, 400, 'invalid_request', /exactly one/],
      [{ login_hint_token: 'not-a-jwt' }, undefined, 400, 'invalid_request', /login_hint_token is invalid/],
      [
        { login_hint_token: v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'] }) },
        undefined,
        400,
        'invalid_request',
        /user's own token/,
      ],
      [{ scope: undefined }, undefined, 400, 'invalid_scope'],
      [{ scope: 'openid email' }, undefined, 400, 'invalid_scope'],
      [{ binding_message: 'x'.repeat(65) }, undefined, 400, 'invalid_binding_message'],
      [{ binding_message: 'two\nlines' }, undefined, 400, 'invalid_binding_message'],
      [{ authorization_details: '{"type":"x"}' }, undefined, 400, 'invalid_request', /authorization_details/],
      [{ authorization_details: '[{"amount":1}]' }, undefined, 400, 'invalid_request', /authorization_details/],
      [{ requested_expiry: '0' }, undefined, 400, 'invalid_request', /requested_expiry/],
    ];
    for (const [params, headers, status, error, description] of cases) {
      const r = await ask(params, headers ?? basic('mcp-1', secret1));
      expect({ params, status: r.status, error: r.body.error }).toEqual({ params, status, error });
      if (description) expect(r.body.error_description).toMatch(description);
    }
    const json = await fetch(`${v.url}/oauth2/bc-authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(400);
    expect(await v.db.ds.query(`SELECT count(*)::int AS n FROM approvals`)).toEqual([{ n: 0 }]);
  });

  it('bc-authorize refuses scopes no policy could grant (audited with the refused scope), all or nothing', async () => {
    const r = await ask({ scope: 'connections:openai connections:github-key' });
    expect(r).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect(await v.db.ds.query(`SELECT count(*)::int AS n FROM approvals`)).toEqual([{ n: 0 }]);
    const audit = await v.call('GET', '/v1/admin/audit?action=approval.request&outcome=denied', { token: admin() });
    expect(audit.body.events[0]).toMatchObject({
      reason: 'invalid_scope',
      agent: 'mcp-1',
      user: 'alice',
      details: expect.objectContaining({ refused: { 'connections:github-key': 'policy_denied' } }),
    });
  });

  it('polling: unknown, malformed, missing, or another client’s auth_req_id; id_token_hint works like login_hint_token', async () => {
    expect(await poll('A'.repeat(43))).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await poll('short')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await poll(undefined)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });

    const asked = await ask({ login_hint_token: undefined, id_token_hint: user() });
    expect(asked.status).toBe(200);
    expect(asked.body).toMatchObject({ expires_in: 600, interval: 5 });
    const theirs = await poll(asked.body.auth_req_id, basic('mcp-2', secret2));
    expect(theirs).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(theirs.body.error_description).toMatch(/not issued to this client/);
    expect(await poll(asked.body.auth_req_id, basic('mcp-1', 'wrong'))).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await poll(asked.body.auth_req_id)).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });
    expect(await v.db.ds.query(`SELECT status FROM approvals`)).toEqual([{ status: 'pending' }]);
    // The database holds no auth_req_id, only its hash.
    const [row] = await v.db.ds.query(`SELECT to_jsonb(a)::text AS j FROM approvals a`);
    expect(row.j).not.toContain(asked.body.auth_req_id);
  });

  it('an agent may have at most 5 unanswered requests for one user: the 6th is 429 rate_limited, audited', async () => {
    const [{ n }] = await v.db.ds.query(`SELECT count(*)::int AS n FROM approvals WHERE status = 'pending'`);
    for (let i = n; i < 5; i++) expect((await ask({})).status).toBe(200);
    const sixth = await ask({});
    expect(sixth).toMatchObject({ status: 429, body: { error: 'rate_limited' } });
    expect(sixth.body.error_description).toMatch(/unanswered requests/);
    // Another user is not held back.
    expect((await ask({ login_hint_token: user('bob') })).status).toBe(200);
    const audit = await v.call('GET', '/v1/admin/audit?action=approval.request&outcome=denied&limit=1', { token: admin() });
    expect(audit.body.events[0]).toMatchObject({ reason: 'rate_limited', agent: 'mcp-1', user: 'alice' });
    expect(await v.db.ds.query(`SELECT count(*)::int AS n FROM approvals WHERE subject = 'alice'`)).toEqual([{ n: 5 }]);
  });

  it('a dpop_bound agent gets its approved token only with a DPoP proof, and bound to that key (RFC 9449 §5)', async () => {
    const secret3 = (
      await v.call('PUT', '/v1/admin/agents/mcp-3', {
        token: admin(),
        body: { name: 'Three', auth_method: 'client_secret_basic', dpop_bound: true },
      })
    ).body.client_secret;
    const asked = await ask({ login_hint_token: user('carol') }, basic('mcp-3', secret3));
    expect(asked.status).toBe(200);
    // As if carol had approved on the page (the page itself is tested in ciba-browser.test.ts).
    await v.db.ds.query(
      `UPDATE approvals SET status = 'approved', decided_at = now(), decided_by = 'carol', approved_until = now() + interval '10 minutes'
        WHERE agent = 'mcp-3'`,
    );
    const poll3 = (headers: Record<string, string>) =>
      postForm(
        `${v.url}/oauth2/token`,
        { grant_type: CIBA, auth_req_id: asked.body.auth_req_id },
        { ...basic('mcp-3', secret3), ...headers },
      );
    expect(await poll3({})).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    expect(await v.db.ds.query(`SELECT status FROM approvals WHERE agent = 'mcp-3'`)).toEqual([{ status: 'approved' }]);
    const key = await DpopKey.create();
    const bound = await poll3({ dpop: await key.proof('POST', '/oauth2/token') });
    expect(bound).toMatchObject({ status: 200, body: { token_type: 'DPoP' } });
    expect(JSON.parse(Buffer.from(bound.body.access_token.split('.')[1], 'base64url').toString())).toMatchObject({
      cnf: { jkt: key.jkt },
      approval: expect.any(String),
    });
  });

  it('a policy with require_dpop holds for the approved token too, and a poll without a proof does not use up the approval', async () => {
    const secret4 = (
      await v.call('PUT', '/v1/admin/agents/mcp-4', { token: admin(), body: { name: 'Four', auth_method: 'client_secret_basic' } })
    ).body.client_secret;
    const policy = { agents: ['mcp-4'], integrations: ['github-key'], effect: 'allow', require_approval: true, require_dpop: true };
    expect((await putPolicy('approve-bound', policy)).status).toBe(201);
    const asked = await ask({ scope: 'connections:github-key', login_hint_token: user('dave') }, basic('mcp-4', secret4));
    expect(asked.status).toBe(200);
    await v.db.ds.query(
      `UPDATE approvals SET status = 'approved', decided_at = now(), decided_by = 'dave', approved_until = now() + interval '10 minutes'
        WHERE agent = 'mcp-4'`,
    );
    const poll4 = (headers: Record<string, string>) =>
      postForm(
        `${v.url}/oauth2/token`,
        { grant_type: CIBA, auth_req_id: asked.body.auth_req_id },
        { ...basic('mcp-4', secret4), ...headers },
      );
    const refused = await poll4({});
    expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    expect(refused.body.error_description).toContain('approve-bound');
    expect(await v.db.ds.query(`SELECT status FROM approvals WHERE agent = 'mcp-4'`)).toEqual([{ status: 'approved' }]);
    const key = await DpopKey.create();
    const bound = await poll4({ dpop: await key.proof('POST', '/oauth2/token') });
    expect(bound).toMatchObject({ status: 200, body: { token_type: 'DPoP' } });
    expect(JSON.parse(Buffer.from(bound.body.access_token.split('.')[1], 'base64url').toString()).cnf).toEqual({ jkt: key.jkt });
  });

  it('the CIBA grant is advertised with poll mode and the bc-authorize endpoint', async () => {
    const as = (await (await fetch(`${v.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(as).toMatchObject({
      grant_types_supported: expect.arrayContaining([CIBA]),
      backchannel_authentication_endpoint: 'https://vault.test.example/oauth2/bc-authorize',
      backchannel_token_delivery_modes_supported: ['poll'],
    });
  });
});
