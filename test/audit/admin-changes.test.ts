import { startTestVault, TestVault } from '../support/vault';

/**
 * Who changed what the release path decides on: integrations, agents and policies are audited
 * (DESIGN.md "Audit": who, what, why). Grants are audited before they are stored, so with the
 * audit log down none changes (fail closed); secrets never reach the log.
 */
describe('admin changes are audited', () => {
  let v: TestVault;
  const T = 'cfg';
  const admin = () => v.issuer.adminToken(T);
  const put = (path: string, body: unknown) => v.call('PUT', path, { token: admin(), body });
  const events = async (action: string) =>
    v.db.ds.query(
      `SELECT action, outcome, agent, integration, details FROM vault.audit_events WHERE tenant = $1 AND action = $2 ORDER BY seq`,
      [T, action],
    );

  beforeAll(async () => {
    v = await startTestVault();
  });
  afterAll(() => v?.close());

  it('integration, agent and policy writes and deletes: one event each, naming the admin, with no secret in it', async () => {
    const secret = `CANARY-${Math.random().toString(36).slice(2)}`;
    expect(
      (
        await put('/v1/admin/integrations/crm', {
          provider: 'custom-oauth2',
          client_id: 'app-1',
          client_secret: secret,
          authorize_url: 'https://crm.example.com/authorize',
          token_url: 'https://crm.example.com/token',
        })
      ).status,
    ).toBe(201);
    const created = await put('/v1/admin/agents/mcp-1', { name: 'MCP', auth_method: 'client_secret_basic' });
    expect(created.status).toBe(201);
    expect(
      (
        await put('/v1/admin/policies/p1', {
          agents: ['mcp-1'],
          integrations: ['crm'],
          effect: 'allow',
          users: { subjects: ['alice', 'bob'] },
        })
      ).status,
    ).toBe(201);
    expect((await v.call('DELETE', '/v1/admin/policies/p1', { token: admin() })).status).toBe(204);
    expect((await v.call('DELETE', '/v1/admin/agents/mcp-1', { token: admin() })).status).toBe(204);
    expect((await v.call('DELETE', '/v1/admin/integrations/crm', { token: admin() })).status).toBe(204);

    const by = `admin@${T}`;
    expect(await events('integration.put')).toEqual([
      expect.objectContaining({
        outcome: 'allowed',
        integration: 'crm',
        details: expect.objectContaining({
          by,
          provider: 'custom-oauth2',
          client_credential_set: true,
          settings: ['authorize_url', 'client_id', 'token_url'],
        }),
      }),
    ]);
    expect(await events('agent.put')).toEqual([
      expect.objectContaining({
        outcome: 'allowed',
        agent: 'mcp-1',
        details: expect.objectContaining({ by, auth_method: 'client_secret_basic' }),
      }),
    ]);
    expect(await events('policy.put')).toEqual([
      expect.objectContaining({
        outcome: 'allowed',
        details: expect.objectContaining({ by, policy: 'p1', effect: 'allow', agents: ['mcp-1'], integrations: ['crm'], subjects: 2 }),
      }),
    ]);
    for (const action of ['policy.delete', 'agent.delete', 'integration.delete']) expect(await events(action)).toHaveLength(1);

    const all = JSON.stringify(await v.db.ds.query(`SELECT * FROM vault.audit_events WHERE tenant = $1`, [T]));
    expect(all).not.toContain(secret);
    expect(all).not.toContain(created.body.client_secret);
    expect(all).not.toContain('"alice"');
  });

  it('with the audit log refusing writes, a grant is not stored (503) and no agent or integration is created', async () => {
    await v.db.ds.query(
      `CREATE FUNCTION vault.refuse_audit_cfg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`,
    );
    await v.db.ds.query(
      'CREATE TRIGGER refuse_audit_cfg BEFORE INSERT ON vault.audit_events FOR EACH ROW EXECUTE FUNCTION vault.refuse_audit_cfg()',
    );
    try {
      expect((await put('/v1/admin/policies/p2', { agents: ['*'], integrations: ['*'], effect: 'allow' })).status).toBe(503);
      expect((await put('/v1/admin/agents/mcp-2', { name: 'MCP 2' })).status).toBe(503);
      expect((await put('/v1/admin/integrations/openai', { provider: 'api_key' })).status).toBe(503);
    } finally {
      await v.db.ds.query('DROP TRIGGER refuse_audit_cfg ON vault.audit_events');
      await v.db.ds.query('DROP FUNCTION vault.refuse_audit_cfg()');
    }
    expect(
      (await v.call('GET', '/v1/admin/policies', { token: admin() })).body.policies.map((p: { name: string }) => p.name),
    ).not.toContain('p2');
    expect(
      (await v.call('GET', '/v1/admin/agents', { token: admin() })).body.agents.map((a: { client_id: string }) => a.client_id),
    ).not.toContain('mcp-2');
    expect((await v.call('GET', '/v1/admin/integrations/openai', { token: admin() })).status).toBe(404);
  });
});
