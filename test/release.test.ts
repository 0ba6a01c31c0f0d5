import { startTestVault, TestVault } from './support/vault';

/**
 * The release path end to end, through HTTP, on real Postgres with the local key provider:
 * admin sets up an integration, an agent, a policy and a user's API key; the agent releases it.
 */
describe('credential release (API key)', () => {
  let v: TestVault;
  const T = 'acme';
  const admin = () => v.issuer.adminToken(T);

  beforeAll(async () => {
    v = await startTestVault();
    const a = admin();
    expect(
      (await v.call('PUT', '/v1/admin/integrations/openai', { token: a, body: { provider: 'api_key', display_name: 'OpenAI' } })).status,
    ).toBe(201);
    expect((await v.call('PUT', '/v1/admin/agents/mcp-1', { token: a, body: { name: 'MCP tool server' } })).status).toBe(201);
    expect(
      (
        await v.call('PUT', '/v1/admin/policies/mcp-openai', {
          token: a,
          body: { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' },
        })
      ).status,
    ).toBe(201);
    expect(
      (await v.call('PUT', '/v1/admin/connections/openai/users/alice', { token: a, body: { api_key: 'sk-alice-canary-7f3a' } })).status,
    ).toBe(201);
  });
  afterAll(() => v?.close());

  const agentToken = (user = 'alice', agent = 'mcp-1', integrations = ['openai']) =>
    v.issuer.agentToken({ tenant: T, user, agent, integrations });

  it('releases the key with no-store, and audits it', async () => {
    const res = await v.call('POST', '/v1/connections/openai/token', { token: agentToken() });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ integration: 'openai', type: 'api_key', api_key: 'sk-alice-canary-7f3a' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    const audit = await v.call('GET', '/v1/admin/audit?action=credential.release&outcome=allowed', { token: admin() });
    expect(audit.status).toBe(200);
    expect(audit.body.events[0]).toMatchObject({
      action: 'credential.release',
      outcome: 'allowed',
      agent: 'mcp-1',
      user: 'alice',
      integration: 'openai',
    });
    expect(audit.text).not.toContain('sk-alice-canary-7f3a');
    const [row] = await v.db.ds.query(
      `SELECT details FROM vault.audit_events WHERE action = 'credential.release' AND outcome = 'allowed' ORDER BY seq DESC LIMIT 1`,
    );
    expect(row.details).toMatchObject({
      policies: ['mcp-openai'],
      matched: [{ policy: 'mcp-openai', effect: 'allow', roles: [], subject: false }],
    });
  });

  it('the stored key is ciphertext: the canary is in no column of the database', async () => {
    const rows = await v.db.ds.query(`SELECT t::text AS row FROM vault.connections t`);
    expect(rows.length).toBe(1);
    expect(rows[0].row).not.toContain('sk-alice-canary-7f3a');
    expect(rows[0].row).not.toContain(Buffer.from('sk-alice-canary-7f3a').toString('hex'));
  });

  it('another user with no connection gets 404 connection_not_found (SECURITY 9)', async () => {
    const bob = await v.call('POST', '/v1/connections/openai/token', { token: agentToken('bob') });
    const none = await v.call('POST', '/v1/connections/nothing/token', { token: agentToken('alice', 'mcp-1', ['nothing']) });
    expect(bob.status).toBe(404);
    expect(bob.body.code).toBe('connection_not_found');
    expect(bob.headers.get('content-type')).toContain('application/problem+json');
    // Identical to "no such integration at all": nothing to enumerate. Policy lets mcp-1 act for bob on
    // openai, so bob's refusal also offers a connect URL (CONTRACT: "with connect_url when the caller
    // may start a connect session"); it depends on policy, never on other users' connections.
    expect(bob.body.connect_url).toMatch(/^https:\/\/vault\.test\.example\/connect\/[A-Za-z0-9_-]{43}$/);
    const { connect_url: _u, connect_url_expires_at: _e, ...bobRest } = bob.body;
    expect({ ...bobRest, instance: undefined }).toEqual({ ...none.body, instance: undefined });
  });

  it('scope without connections:<integration> → 403 scope_missing (SECURITY 8)', async () => {
    const res = await v.call('POST', '/v1/connections/openai/token', { token: agentToken('alice', 'mcp-1', ['other']) });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('scope_missing');
  });

  it('unregistered agent → 403 not_an_agent_token; user token without act → 403 (SECURITY 6)', async () => {
    const unknown = await v.call('POST', '/v1/connections/openai/token', { token: agentToken('alice', 'rogue') });
    expect(unknown.status).toBe(403);
    expect(unknown.body.code).toBe('not_an_agent_token');
    const userOnly = v.issuer.sign({ sub: 'alice', tid: T, scope: 'connections:openai' });
    const res = await v.call('POST', '/v1/connections/openai/token', { token: userOnly });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('not_an_agent_token');
  });

  it('the allowed agent only as a nested actor → 403 (SECURITY 7)', async () => {
    const token = v.issuer.sign({ sub: 'alice', tid: T, act: { sub: 'rogue', act: { sub: 'mcp-1' } }, scope: 'connections:openai' });
    const res = await v.call('POST', '/v1/connections/openai/token', { token });
    expect(res.status).toBe(403);
  });

  it('policy revoked after the token was issued → 403 policy_denied, audited (SECURITY 8)', async () => {
    const token = agentToken();
    expect(
      (
        await v.call('PUT', '/v1/admin/policies/deny-mcp', {
          token: admin(),
          body: { agents: ['mcp-1'], integrations: ['*'], effect: 'deny' },
        })
      ).status,
    ).toBe(201);
    try {
      const res = await v.call('POST', '/v1/connections/openai/token', { token });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('policy_denied');
      const audit = await v.call('GET', '/v1/admin/audit?outcome=denied&agent=mcp-1', { token: admin() });
      expect(audit.body.events[0]).toMatchObject({ outcome: 'denied', reason: 'policy_denied' });
      // Logged with its inputs: every policy that applied, not only the deny that won.
      const [row] = await v.db.ds.query(
        `SELECT details FROM vault.audit_events WHERE action = 'credential.release' AND reason = 'policy_denied' ORDER BY seq DESC LIMIT 1`,
      );
      expect(row.details).toMatchObject({
        policy: 'deny-mcp',
        matched: [
          { policy: 'deny-mcp', effect: 'deny', roles: [], subject: false },
          { policy: 'mcp-openai', effect: 'allow', roles: [], subject: false },
        ],
      });
    } finally {
      expect((await v.call('DELETE', '/v1/admin/policies/deny-mcp', { token: admin() })).status).toBe(204);
    }
    expect((await v.call('POST', '/v1/connections/openai/token', { token })).status).toBe(200);
  });

  it('bad tokens → 401 invalid_token with WWW-Authenticate', async () => {
    const noToken = await v.call('POST', '/v1/connections/openai/token');
    expect(noToken.status).toBe(401);
    const garbage = await v.call('POST', '/v1/connections/openai/token', { token: 'not.a.jwt' });
    expect(garbage.status).toBe(401);
    expect(garbage.body.code).toBe('invalid_token');
    expect(garbage.headers.get('www-authenticate')).toContain('Bearer');
    const expired = v.issuer.sign({
      sub: 'alice',
      tid: T,
      act: { sub: 'mcp-1' },
      scope: 'connections:openai',
      exp: Math.floor(Date.now() / 1000) - 3600,
    });
    expect((await v.call('POST', '/v1/connections/openai/token', { token: expired })).status).toBe(401);
  });

  it('alg none → 401 and audited (SECURITY 1)', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: v.issuer.issuer,
      aud: v.issuer.audience,
      sub: 'alice',
      tid: T,
      act: { sub: 'mcp-1' },
      scope: 'connections:openai',
      exp: now + 60,
    };
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    const res = await v.call('POST', '/v1/connections/openai/token', { token });
    expect(res.status).toBe(401);
    const rows = await v.db.ds.query(
      `SELECT reason, details FROM vault.audit_events WHERE action = 'credential.release' ` +
        `AND reason = 'invalid_token' ORDER BY seq DESC LIMIT 1`,
    );
    expect(rows.length).toBe(1);
  });

  it('admin calls need vault:admin and are tenant-scoped', async () => {
    const notAdmin = v.issuer.sign({ sub: 'x', tid: T, scope: 'openid' });
    expect((await v.call('GET', '/v1/admin/integrations', { token: notAdmin })).status).toBe(403);
    const other = await v.call('GET', '/v1/admin/connections', { token: v.issuer.adminToken('globex') });
    expect(other.status).toBe(200);
    expect(other.body.connections).toEqual([]);
    const mine = await v.call('GET', '/v1/admin/connections?user=alice', { token: admin() });
    expect(mine.body.connections).toHaveLength(1);
    expect(mine.body.connections[0]).toMatchObject({ integration: 'openai', user: 'alice', type: 'api_key', status: 'active' });
    expect(mine.text).not.toContain('sk-alice-canary-7f3a');
  });

  it('tenant-level API key is released by policy alone', async () => {
    const a = admin();
    expect(
      (await v.call('PUT', '/v1/admin/integrations/shared-search', { token: a, body: { provider: 'api_key', level: 'tenant' } })).status,
    ).toBe(201);
    expect(
      (await v.call('PUT', '/v1/admin/connections/shared-search/tenant', { token: a, body: { api_key: 'tenant-key-1' } })).status,
    ).toBe(201);
    expect(
      (
        await v.call('PUT', '/v1/admin/policies/all-search', {
          token: a,
          body: { agents: ['*'], integrations: ['shared-search'], effect: 'allow' },
        })
      ).status,
    ).toBe(201);
    const res = await v.call('POST', '/v1/connections/shared-search/token', { token: agentToken('anyone', 'mcp-1', ['shared-search']) });
    expect(res.status).toBe(200);
    expect(res.body.api_key).toBe('tenant-key-1');
  });

  it('replacing a key bumps the version; disconnect destroys it', async () => {
    const a = admin();
    const r = await v.call('PUT', '/v1/admin/connections/openai/users/carol', { token: a, body: { api_key: 'k1' } });
    const r2 = await v.call('PUT', '/v1/admin/connections/openai/users/carol', { token: a, body: { api_key: 'k2' } });
    expect(r2.status).toBe(200);
    expect(r2.body.version).toBe(r.body.version + 1);
    expect((await v.call('POST', '/v1/connections/openai/token', { token: agentToken('carol') })).body.api_key).toBe('k2');
    expect((await v.call('DELETE', '/v1/admin/connections/openai/users/carol', { token: a })).status).toBe(204);
    expect((await v.call('POST', '/v1/connections/openai/token', { token: agentToken('carol') })).status).toBe(404);
  });
});
