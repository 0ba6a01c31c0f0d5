import type { Server } from 'node:http';
import { startResourceServer } from '../../examples/resource-server/server';
import { DpopKey } from '../dpop/support';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from '../../libs/token-service';
import { startTestVault, TestVault } from '../support/vault';

const TENANT = 'acme';
const VAULT = 'https://vault.test.example';
const CRM = 'https://crm.internal.example.com';

const decode = (t: string) => ({
  header: JSON.parse(Buffer.from(t.split('.')[0], 'base64url').toString()),
  payload: JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString()),
});

/**
 * Resources (RFC 8707): the tenant's own API registered with a scope→role map; token exchange with
 * `resource=<identifier>` issues an RFC 9068 JWT for it whose scopes are requested ∩ the user's roles
 * ∩ the agent's permission. The example resource server (examples/resource-server) verifies it with jose.
 */
describe('resources: admin API and resource tokens by token exchange', () => {
  let v: TestVault;
  let secret: string;
  let otherSecret: string;
  let api: Server;
  const admin = () => v.issuer.adminToken(TENANT);
  const user = (sub: string, roles: string[], extra: Record<string, unknown> = {}) => v.issuer.sign({ sub, tid: TENANT, roles, ...extra });
  const basic = (id: string, s: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${s}`).toString('base64')}` });

  async function exchange(params: Record<string, string | string[]>, headers: Record<string, string>) {
    const form = new URLSearchParams();
    for (const [k, val] of Object.entries(params)) for (const one of Array.isArray(val) ? val : [val]) form.append(k, one);
    const res = await fetch(`${v.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: form.toString(),
    });
    return { status: res.status, body: (await res.json()) as any };
  }
  const params = (subject: string, scope: string, resource: string | string[] = CRM) => ({
    grant_type: TOKEN_EXCHANGE_GRANT,
    subject_token: subject,
    subject_token_type: TOKEN_TYPES.accessToken,
    scope,
    resource,
  });
  const lastExchange = async () =>
    (
      await v.db.ds.query(
        `SELECT outcome, reason, agent, details FROM vault.audit_events WHERE tenant = $1 AND action = 'token.exchange' ORDER BY seq DESC LIMIT 1`,
        [TENANT],
      )
    )[0];

  const crm = {
    identifier: CRM,
    display_name: 'CRM',
    scopes: {
      'crm:read': { description: 'Read customer records', roles_any: ['analyst', 'crm-admin'] },
      'crm:write': { description: 'Change customer records', roles_any: ['crm-admin'] },
      'crm:delete': { description: 'Delete customer records', roles_any: ['crm-admin'], require_approval: true },
    },
    token_ttl_seconds: 120,
    agents: ['mcp-1'],
  };

  beforeAll(async () => {
    v = await startTestVault();
    const agent = async (id: string) =>
      (await v.call('PUT', `/v1/admin/agents/${id}`, { token: admin(), body: { name: id, auth_method: 'client_secret_basic' } })).body
        .client_secret as string;
    secret = await agent('mcp-1');
    otherSecret = await agent('other');
    expect((await v.call('PUT', '/v1/admin/resources/crm', { token: admin(), body: crm })).status).toBe(201);
    api = await startResourceServer({
      issuer: VAULT,
      jwksUrl: `${v.url}/.well-known/jwks.json`,
      audience: CRM,
      tenant: TENANT,
      scope: 'crm:read',
    });
  });
  afterAll(async () => {
    api?.close();
    await v?.close();
  });

  it('admin: PUT replaces (200), GET reads, list lists; changes are audited with the scope→role map', async () => {
    const again = await v.call('PUT', '/v1/admin/resources/crm', { token: admin(), body: crm });
    expect(again.status).toBe(200);
    const got = await v.call('GET', '/v1/admin/resources/crm', { token: admin() });
    expect(got.body).toMatchObject({ name: 'crm', identifier: CRM, token_ttl_seconds: 120, agents: ['mcp-1'] });
    expect(got.body.scopes['crm:delete']).toEqual({
      description: 'Delete customer records',
      roles_any: ['crm-admin'],
      require_approval: true,
    });
    expect((await v.call('GET', '/v1/admin/resources', { token: admin() })).body.resources.map((r: any) => r.name)).toEqual(['crm']);
    const [audit] = await v.db.ds.query(
      `SELECT details FROM vault.audit_events WHERE tenant = $1 AND action = 'resource.put' ORDER BY seq DESC LIMIT 1`,
      [TENANT],
    );
    expect(audit.details).toMatchObject({
      resource: 'crm',
      identifier: CRM,
      scopes: expect.arrayContaining([{ scope: 'crm:write', roles_any: ['crm-admin'], require_approval: false }]),
    });
    expect((await v.call('GET', '/v1/admin/resources/crm', { token: user('alice', ['analyst']) })).status).toBe(403);
  });

  it.each([
    [{ ...crm, identifier: 'crm.internal' }, 'identifier'],
    [{ ...crm, identifier: `${CRM}/#x` }, 'identifier'],
    [{ ...crm, identifier: 'http://crm.example.com' }, 'identifier'],
    [{ ...crm, identifier: VAULT }, 'identifier'],
    [{ ...crm, scopes: {} }, 'scopes'],
    [{ ...crm, scopes: { 'crm:read': { roles_any: [] } } }, 'scopes.crm:read.roles_any'],
    [{ ...crm, scopes: { 'bad scope': { roles_any: ['a'] } } }, 'scopes.bad scope'],
    [{ ...crm, agents: ['no spaces'] }, 'agents'],
  ])('admin: a bad resource is refused naming the field (%#)', async (body, field) => {
    const res = await v.call('PUT', '/v1/admin/resources/bad', { token: admin(), body });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('validation_failed');
    expect(JSON.stringify(res.body)).toContain(field);
  });

  it('admin: an identifier another resource has is a conflict; DELETE removes (then 404), audited', async () => {
    expect((await v.call('PUT', '/v1/admin/resources/crm2', { token: admin(), body: crm })).status).toBe(409);
    const other = { ...crm, identifier: 'https://other.internal.example.com' };
    expect((await v.call('PUT', '/v1/admin/resources/other', { token: admin(), body: other })).status).toBe(201);
    expect((await v.call('DELETE', '/v1/admin/resources/other', { token: admin() })).status).toBe(204);
    expect((await v.call('GET', '/v1/admin/resources/other', { token: admin() })).status).toBe(404);
    expect((await v.call('DELETE', '/v1/admin/resources/other', { token: admin() })).status).toBe(404);
    const rows = await v.db.ds.query(`SELECT details FROM vault.audit_events WHERE tenant = $1 AND action = 'resource.delete'`, [TENANT]);
    expect(rows.map((r: any) => r.details.resource)).toEqual(['other']);
  });

  it("exchange: an RFC 9068 token for the resource with the scopes the user's roles allow; refusals audited with reasons", async () => {
    const res = await exchange(params(user('alice', ['analyst']), 'crm:read crm:write crm:export'), basic('mcp-1', secret));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ scope: 'crm:read', token_type: 'Bearer', expires_in: 120 });
    const { header, payload } = decode(res.body.access_token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    expect(payload).toMatchObject({
      iss: VAULT,
      aud: CRM,
      sub: 'alice',
      tid: TENANT,
      scope: 'crm:read',
      client_id: 'mcp-1',
      act: { sub: 'mcp-1' },
    });
    expect(payload.exp - payload.iat).toBe(120);
    const audit = await lastExchange();
    expect(audit).toMatchObject({ outcome: 'allowed', agent: 'mcp-1' });
    expect(audit.details).toMatchObject({
      resource: CRM,
      granted: ['crm:read'],
      refused: [
        { scope: 'crm:write', reason: 'role_missing' },
        { scope: 'crm:export', reason: 'unknown_scope' },
      ],
      roles: [{ scope: 'crm:read', roles: ['analyst'] }],
    });
  });

  it('the example resource server accepts it; a token without the scope is 403; the vault itself does not accept it', async () => {
    const read = (await exchange(params(user('alice', ['analyst']), 'crm:read'), basic('mcp-1', secret))).body.access_token;
    const write = (await exchange(params(user('carol', ['crm-admin']), 'crm:write'), basic('mcp-1', secret))).body.access_token;
    const call = (t: string) =>
      fetch(`http://127.0.0.1:${(api.address() as { port: number }).port}/`, { headers: { authorization: `Bearer ${t}` } });
    const ok = await call(read);
    expect([ok.status, await ok.json()]).toEqual([200, { user: 'alice', agent: 'mcp-1', scope: 'crm:read' }]);
    const forbidden = await call(write);
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('www-authenticate')).toContain('insufficient_scope');
    expect((await call(user('alice', ['analyst']))).status).toBe(401); // not a vault-signed at+jwt for the CRM
    expect((await v.call('POST', '/v1/connections/crm/token', { token: read })).status).toBe(401);
  });

  it('a DPoP proof at exchange binds the resource token (cnf.jkt); the example server then wants DPoP with that key', async () => {
    const key = await DpopKey.create();
    const res = await exchange(params(user('alice', ['analyst']), 'crm:read'), {
      ...basic('mcp-1', secret),
      dpop: await key.proof('POST', '/oauth2/token'),
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'DPoP', scope: 'crm:read' });
    const token = res.body.access_token as string;
    expect(decode(token).payload).toMatchObject({ aud: CRM, cnf: { jkt: key.jkt } });
    expect((await lastExchange()).details).toMatchObject({ resource: CRM, dpop_jkt: key.jkt });

    const url = `http://127.0.0.1:${(api.address() as { port: number }).port}/`;
    const call = async (headers: Record<string, string>) => (await fetch(url, { headers })).status;
    const proof = (k: DpopKey, over = {}) => k.proof('GET', '/', token, over);
    const withUrl = (k: DpopKey) => proof(k, { claims: { htu: url } });
    expect(await call({ authorization: `DPoP ${token}`, dpop: await withUrl(key) })).toBe(200);
    expect(await call({ authorization: `Bearer ${token}` })).toBe(401);
    expect(await call({ authorization: `DPoP ${token}` })).toBe(401);
    expect(await call({ authorization: `DPoP ${token}`, dpop: await withUrl(await DpopKey.create()) })).toBe(401);
    expect(await call({ authorization: `DPoP ${token}`, dpop: await proof(key) })).toBe(401); // htu of another URL

    // An agent registered dpop_bound gets no resource token without a proof.
    const bound = await v.call('PUT', '/v1/admin/agents/bound', {
      token: admin(),
      body: { name: 'bound', auth_method: 'client_secret_basic', dpop_bound: true },
    });
    const refused = await exchange(params(user('alice', ['analyst']), 'crm:read'), basic('bound', bound.body.client_secret));
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_dpop_proof');
  });

  it('require_approval scopes are refused (approval_required) by exchange, pointing at bc-authorize; nothing granted is invalid_scope', async () => {
    const res = await exchange(params(user('carol', ['crm-admin']), 'crm:delete'), basic('mcp-1', secret));
    expect([res.status, res.body.error]).toEqual([400, 'invalid_scope']);
    expect(res.body.error_description).toContain('crm:delete (approval_required)');
    expect(res.body.error_description).toMatch(/ask the user's approval at https?:\/\/[^ ]+\/oauth2\/bc-authorize/);
    const audit = await lastExchange();
    expect(audit).toMatchObject({ outcome: 'denied', reason: 'invalid_scope' });
    expect(audit.details).toMatchObject({ resource: CRM, granted: [], refused: [{ scope: 'crm:delete', reason: 'approval_required' }] });
  });

  it('an agent the resource does not list gets nothing (agent_not_allowed)', async () => {
    const res = await exchange(params(user('alice', ['analyst']), 'crm:read'), basic('other', otherSecret));
    expect([res.status, res.body.error]).toEqual([400, 'invalid_scope']);
    expect((await lastExchange()).details.refused).toEqual([{ scope: 'crm:read', reason: 'agent_not_allowed' }]);
  });

  it('a delegated subject token keeps its act chain and bounds the scopes (not_delegated)', async () => {
    const subject = user('carol', ['crm-admin'], { act: { sub: 'upstream' }, scope: 'crm:read' });
    const res = await exchange(params(subject, 'crm:read crm:write'), basic('mcp-1', secret));
    expect(res.status).toBe(200);
    expect(decode(res.body.access_token).payload).toMatchObject({ scope: 'crm:read', act: { sub: 'mcp-1', act: { sub: 'upstream' } } });
    expect((await lastExchange()).details.refused).toEqual([{ scope: 'crm:write', reason: 'not_delegated' }]);
  });

  it('an unknown resource, two resources, or the vault mixed with a resource is invalid_target', async () => {
    for (const resource of ['https://unknown.example.com', [CRM, 'https://unknown.example.com'], [CRM, VAULT]]) {
      const res = await exchange(params(user('alice', ['analyst']), 'crm:read', resource), basic('mcp-1', secret));
      expect([res.status, res.body.error]).toEqual([400, 'invalid_target']);
    }
  });
});
