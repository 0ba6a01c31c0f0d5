import { request } from 'node:http';
import { startTestVault, TestVault } from '../support/vault';

/** A request with the path exactly as given: fetch would resolve `..` and `%2e%2e` before sending. */
function rawCall(
  base: string,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: any; text: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const req = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, text, contentType: String(res.headers['content-type'] ?? '') });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * SECURITY.md 27 and 28, and "bad input gets a clear error naming what is wrong; nothing
 * half-written": every malformed admin or release request is a 400 problem+json with a
 * stable code, an `errors` list naming the field, and the database exactly as it was.
 */
describe('input validation (SECURITY 27, 28)', () => {
  let v: TestVault;
  const T = 'acme';
  const admin = () => v.issuer.adminToken(T);
  const agentToken = (user = 'alice', integrations = ['openai']) => v.issuer.agentToken({ tenant: T, user, agent: 'a1', integrations });

  /** Every row of every table the admin API or the release path writes (audit excepted), as text. */
  async function snapshot(): Promise<string[]> {
    const rows: Array<{ row: string }> = await v.db.ds.query(`
      SELECT 'tenants ' || t::text AS row FROM vault.tenants t
      UNION ALL SELECT 'tenant_keys ' || t::text FROM vault.tenant_keys t
      UNION ALL SELECT 'integrations ' || t::text FROM vault.integrations t
      UNION ALL SELECT 'agents ' || t::text FROM vault.agents t
      UNION ALL SELECT 'policies ' || t::text FROM vault.policies t
      UNION ALL SELECT 'connections ' || t::text FROM vault.connections t`);
    return rows.map((r) => r.row).sort();
  }

  beforeAll(async () => {
    v = await startTestVault();
    const a = admin();
    const setup: Array<[string, unknown]> = [
      ['/v1/admin/integrations/openai', { provider: 'api_key', display_name: 'OpenAI' }],
      ['/v1/admin/agents/a1', { name: 'MCP tool server' }],
      ['/v1/admin/policies/p1', { agents: ['a1'], integrations: ['openai'], effect: 'allow' }],
      ['/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-1' }],
      ['/v1/admin/connections/openai/users/carol', { api_key: 'sk-carol-1' }],
    ];
    for (const [path, body] of setup) expect((await v.call('PUT', path, { token: a, body })).status).toBe(201);
  });
  afterAll(() => v?.close());

  type Case = {
    name: string;
    method?: string;
    path: string;
    body?: unknown;
    raw?: string;
    headers?: Record<string, string>;
    field?: string;
  };

  /** Sends a bad request; expects a 400 problem naming `field`, and no row of any table changed. */
  async function expectRefused(c: Case): Promise<void> {
    const before = await snapshot();
    const res =
      c.raw === undefined && c.headers === undefined
        ? await rawCall(v.url, c.method ?? 'PUT', c.path, admin(), c.body)
        : await v
            .call(c.method ?? 'PUT', c.path, { token: admin(), body: c.body, raw: c.raw, headers: c.headers })
            .then((r) => ({ ...r, contentType: r.headers.get('content-type') ?? '' }));
    expect({ case: c.name, status: res.status }).toEqual({ case: c.name, status: 400 });
    expect(res.contentType).toContain('application/problem+json');
    expect(['validation_failed', 'invalid_request']).toContain(res.body.code);
    expect(res.body).toMatchObject({ status: 400, type: 'about:blank', title: 'Bad Request' });
    expect(typeof res.body.detail).toBe('string');
    if (c.field !== undefined) {
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(c.field);
      for (const e of res.body.errors) expect(e).toEqual({ field: expect.any(String), message: expect.any(String) });
    }
    expect(await snapshot()).toEqual(before);
  }

  const integration = (body: Record<string, unknown>) => ({ provider: 'api_key', ...body });
  const policy = (body: Record<string, unknown>) => ({ agents: ['a1'], integrations: ['openai'], effect: 'allow', ...body });

  describe('admin PUT bodies: unknown, extra and nested fields (SECURITY 27)', () => {
    const cases: Case[] = [
      // Fields a caller must never choose: the tenant comes from the token, key versions from the keyring.
      {
        name: 'integration + tenantId',
        path: '/v1/admin/integrations/openai',
        body: integration({ tenantId: 'globex' }),
        field: 'tenantId',
      },
      { name: 'integration + tenant', path: '/v1/admin/integrations/new-one', body: integration({ tenant: 'globex' }), field: 'tenant' },
      {
        name: 'integration + keyVersion',
        path: '/v1/admin/integrations/openai',
        body: integration({ keyVersion: 1 }),
        field: 'keyVersion',
      },
      { name: 'integration + raw config', path: '/v1/admin/integrations/openai', body: integration({ config: { a: 1 } }), field: 'config' },
      {
        name: 'integration + client_secret_ct',
        path: '/v1/admin/integrations/new-one',
        body: { provider: 'google', client_secret: 's', client_secret_ct: 'AAAA' },
        field: 'client_secret_ct',
      },
      {
        name: 'integration api_key.extra',
        path: '/v1/admin/integrations/openai',
        body: integration({ api_key: { header_name: 'x', extra: 1 } }),
        field: 'api_key.extra',
      },
      {
        name: 'integration api_key.$gt',
        path: '/v1/admin/integrations/openai',
        body: integration({ api_key: { $gt: '' } }),
        field: 'api_key.$gt',
      },
      { name: 'agent + tenantId', path: '/v1/admin/agents/a1', body: { name: 'renamed', tenantId: 'globex' }, field: 'tenantId' },
      { name: 'agent + tenant', path: '/v1/admin/agents/a2', body: { name: 'x', tenant: 'globex' }, field: 'tenant' },
      {
        name: 'agent chooses its own client_secret',
        path: '/v1/admin/agents/a2',
        body: { name: 'x', auth_method: 'client_secret_post', client_secret: 'mine' },
        field: 'client_secret',
      },
      {
        name: 'agent jwks.extra',
        path: '/v1/admin/agents/a2',
        body: { name: 'x', auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'RSA' }], extra: 1 } },
        field: 'jwks.extra',
      },
      { name: 'policy + tenantId', path: '/v1/admin/policies/p1', body: policy({ tenantId: 'globex' }), field: 'tenantId' },
      { name: 'policy + tenant', path: '/v1/admin/policies/p2', body: policy({ tenant: 'globex' }), field: 'tenant' },
      {
        name: 'policy users.evil',
        path: '/v1/admin/policies/p2',
        body: policy({ users: { roles_any: [], evil: 1 } }),
        field: 'users.evil',
      },
      {
        name: 'connection + tenantId',
        path: '/v1/admin/connections/openai/users/alice',
        body: { api_key: 'k', tenantId: 'globex' },
        field: 'tenantId',
      },
      {
        name: 'connection + keyVersion',
        path: '/v1/admin/connections/openai/users/alice',
        body: { api_key: 'k', keyVersion: 7 },
        field: 'keyVersion',
      },
      { name: 'connection + user', path: '/v1/admin/connections/openai/users/bob', body: { api_key: 'k', user: 'alice' }, field: 'user' },
      {
        name: 'connection + status',
        path: '/v1/admin/connections/openai/users/alice',
        body: { api_key: 'k', status: 'revoked' },
        field: 'status',
      },
    ];
    it.each(cases)('$name → 400, nothing written', expectRefused);
  });

  describe('admin PUT bodies: wrong types, objects where strings belong, missing fields', () => {
    const cases: Case[] = [
      {
        name: 'connection api_key {$gt:""}',
        path: '/v1/admin/connections/openai/users/alice',
        body: { api_key: { $gt: '' } },
        field: 'api_key',
      },
      { name: 'connection api_key array', path: '/v1/admin/connections/openai/users/bob', body: { api_key: ['k'] }, field: 'api_key' },
      { name: 'connection api_key number', path: '/v1/admin/connections/openai/users/bob', body: { api_key: 42 }, field: 'api_key' },
      { name: 'connection api_key empty', path: '/v1/admin/connections/openai/users/bob', body: { api_key: '' }, field: 'api_key' },
      { name: 'connection api_key missing', path: '/v1/admin/connections/openai/users/bob', body: {}, field: 'api_key' },
      {
        name: 'connection api_key too long',
        path: '/v1/admin/connections/openai/users/bob',
        body: { api_key: 'k'.repeat(8193) },
        field: 'api_key',
      },
      { name: 'integration provider missing', path: '/v1/admin/integrations/new-one', body: {}, field: 'provider' },
      { name: 'integration provider unknown', path: '/v1/admin/integrations/new-one', body: { provider: 'nope' }, field: 'provider' },
      {
        name: 'integration provider {$ne:null}',
        path: '/v1/admin/integrations/new-one',
        body: { provider: { $ne: null } },
        field: 'provider',
      },
      { name: 'integration level unknown', path: '/v1/admin/integrations/openai', body: integration({ level: 'org' }), field: 'level' },
      {
        name: 'integration scopes "a"',
        path: '/v1/admin/integrations/new-one',
        body: { provider: 'google', client_secret: 's', scopes: 'a' },
        field: 'scopes',
      },
      {
        name: 'integration scopes [1]',
        path: '/v1/admin/integrations/new-one',
        body: { provider: 'google', client_secret: 's', scopes: [1] },
        field: 'scopes',
      },
      {
        name: 'integration client_secret object',
        path: '/v1/admin/integrations/new-one',
        body: { provider: 'google', client_secret: { $gt: '' } },
        field: 'client_secret',
      },
      {
        name: 'integration display_name object',
        path: '/v1/admin/integrations/openai',
        body: integration({ display_name: { a: 1 } }),
        field: 'display_name',
      },
      {
        name: 'integration api_key as array',
        path: '/v1/admin/integrations/openai',
        body: integration({ api_key: [{ header_name: 'x' }] }),
        field: 'api_key',
      },
      {
        name: 'integration api_key as string',
        path: '/v1/admin/integrations/openai',
        body: integration({ api_key: 'x' }),
        field: 'api_key',
      },
      {
        name: 'integration token_url not https',
        path: '/v1/admin/integrations/new-one',
        body: { provider: 'custom-oauth2', client_secret: 's', authorize_url: 'https://idp.example/a', token_url: 'javascript:alert(1)' },
        field: 'token_url',
      },
      { name: 'agent name missing', path: '/v1/admin/agents/a2', body: {}, field: 'name' },
      { name: 'agent name object', path: '/v1/admin/agents/a1', body: { name: { $gt: '' } }, field: 'name' },
      {
        name: 'agent auth_method unknown',
        path: '/v1/admin/agents/a2',
        body: { name: 'x', auth_method: 'password' },
        field: 'auth_method',
      },
      { name: 'agent jwks array', path: '/v1/admin/agents/a2', body: { name: 'x', jwks: [] }, field: 'jwks' },
      { name: 'agent jwks.keys string', path: '/v1/admin/agents/a2', body: { name: 'x', jwks: { keys: 'k' } }, field: 'jwks.keys' },
      { name: 'policy agents "a1"', path: '/v1/admin/policies/p2', body: policy({ agents: 'a1' }), field: 'agents' },
      { name: 'policy agents []', path: '/v1/admin/policies/p2', body: policy({ agents: [] }), field: 'agents' },
      { name: 'policy agents [{$gt:""}]', path: '/v1/admin/policies/p2', body: policy({ agents: [{ $gt: '' }] }), field: 'agents' },
      {
        name: 'policy integrations missing',
        path: '/v1/admin/policies/p2',
        body: { agents: ['a1'], effect: 'allow' },
        field: 'integrations',
      },
      { name: 'policy effect missing', path: '/v1/admin/policies/p1', body: { agents: ['a1'], integrations: ['openai'] }, field: 'effect' },
      { name: 'policy effect unknown', path: '/v1/admin/policies/p1', body: policy({ effect: 'maybe' }), field: 'effect' },
      { name: 'policy scopes "a"', path: '/v1/admin/policies/p1', body: policy({ scopes: 'a' }), field: 'scopes' },
      {
        name: 'policy max_ttl_seconds "10"',
        path: '/v1/admin/policies/p1',
        body: policy({ max_ttl_seconds: '10' }),
        field: 'max_ttl_seconds',
      },
      {
        name: 'policy max_ttl_seconds 1.5',
        path: '/v1/admin/policies/p1',
        body: policy({ max_ttl_seconds: 1.5 }),
        field: 'max_ttl_seconds',
      },
      { name: 'policy max_ttl_seconds 0', path: '/v1/admin/policies/p1', body: policy({ max_ttl_seconds: 0 }), field: 'max_ttl_seconds' },
      { name: 'policy users "alice"', path: '/v1/admin/policies/p2', body: policy({ users: 'alice' }), field: 'users' },
      // As an array, each element used to be validated and the policy stored with no subjects: for every user.
      {
        name: 'policy users as an array',
        path: '/v1/admin/policies/p2',
        body: policy({ users: [{ subjects: ['alice'] }] }),
        field: 'users',
      },
      {
        name: 'policy users.subjects "alice"',
        path: '/v1/admin/policies/p2',
        body: policy({ users: { subjects: 'alice' } }),
        field: 'users.subjects',
      },
    ];
    it.each(cases)('$name → 400 naming the field, nothing written', expectRefused);
  });

  describe('admin PUT bodies: not a JSON object at all', () => {
    const path = '/v1/admin/connections/openai/users/bob';
    const cases: Case[] = [
      { name: 'array', path, body: [], field: '(body)' },
      { name: 'array of the right object', path, body: [{ api_key: 'k' }], field: '(body)' },
      { name: 'string', path, body: 'k', field: '(body)' },
      { name: 'number', path, body: 1, field: '(body)' },
      { name: 'true', path, body: true, field: '(body)' },
      { name: 'null', path, raw: 'null', field: '(body)' },
      { name: 'policy as an array', path: '/v1/admin/policies/p2', body: [policy({})], field: '(body)' },
      { name: 'truncated JSON', path, raw: '{"api_key": "k"' },
      { name: 'unquoted keys', path, raw: '{api_key: "k"}' },
      { name: 'single quotes', path, raw: "{'api_key': 'k'}" },
      { name: 'two documents', path, raw: '{"api_key":"k"}{"api_key":"j"}' },
      { name: '__proto__ pollution', path, raw: '{"api_key":"k","__proto__":{"admin":true}}' },
      { name: 'constructor.prototype pollution', path, raw: '{"api_key":"k","constructor":{"prototype":{"admin":true}}}' },
      { name: 'JSON as text/plain', path, raw: '{"api_key":"k"}', headers: { 'content-type': 'text/plain' }, field: '(body)' },
      {
        name: 'form-urlencoded',
        path,
        raw: 'api_key=k',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        field: '(body)',
      },
      {
        name: 'form-urlencoded with qs brackets',
        path,
        raw: 'api_key[$gt]=',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        field: '(body)',
      },
      { name: 'PUT with no body', path },
    ];
    it.each(cases)('$name → 400, nothing written', expectRefused);

    it('a media type with no parser → 415 unsupported_media_type problem, nothing written', async () => {
      const before = await snapshot();
      const res = await v.call('PUT', path, {
        token: admin(),
        raw: '<api_key>k</api_key>',
        headers: { 'content-type': 'application/xml' },
      });
      expect(res.status).toBe(415);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('unsupported_media_type');
      expect(await snapshot()).toEqual(before);
    });
  });

  it('a rejected replacement leaves the existing row exactly as it was (no half-write)', async () => {
    const [before] = await v.db.ds.query(`SELECT t::text AS row FROM vault.connections t WHERE subject = 'alice'`);
    const res = await v.call('PUT', '/v1/admin/connections/openai/users/alice', {
      token: admin(),
      body: { api_key: 'sk-alice-2', keyVersion: 1 },
    });
    expect(res.status).toBe(400);
    const [after] = await v.db.ds.query(`SELECT t::text AS row FROM vault.connections t WHERE subject = 'alice'`);
    expect(after.row).toBe(before.row);
    const released = await v.call('POST', '/v1/connections/openai/token', { token: agentToken() });
    expect(released.body.api_key).toBe('sk-alice-1');
  });

  it('the same bodies without the bad part are accepted (the refusals above are about the bad part)', async () => {
    const a = admin();
    expect(
      (
        await v.call('PUT', '/v1/admin/agents/a2', {
          token: a,
          body: { name: 'x', auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'RSA' }] } },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await v.call('PUT', '/v1/admin/policies/p2', {
          token: a,
          body: policy({ users: { roles_any: [], subjects: ['carol'] }, max_ttl_seconds: 10 }),
        })
      ).status,
    ).toBe(201);
    expect(
      (await v.call('PUT', '/v1/admin/integrations/openai', { token: a, body: integration({ api_key: { header_name: 'x' } }) })).status,
    ).toBe(200);
    expect((await v.call('PUT', '/v1/admin/connections/openai/users/bob', { token: a, body: { api_key: 'k' } })).status).toBe(201);
    for (const path of ['/v1/admin/agents/a2', '/v1/admin/policies/p2', '/v1/admin/connections/openai/users/bob']) {
      expect((await v.call('DELETE', path, { token: a })).status).toBe(204);
    }
    expect(
      (await v.call('PUT', '/v1/admin/integrations/openai', { token: a, body: { provider: 'api_key', display_name: 'OpenAI' } })).status,
    ).toBe(200);
  });

  describe('path parameters', () => {
    const hostile = [
      '..%2F..',
      '..',
      '%2e%2e',
      '..%5C..',
      "a'%3B%20DROP%20TABLE%20x%3B--",
      'a%00b',
      '%3Cscript%3E',
      'a%20b',
      '%EF%BD%81',
      '-leading-dash',
      'a%2Fb',
    ];
    const routes = (n: string): Case[] => [
      { name: `PUT integration ${n}`, path: `/v1/admin/integrations/${n}`, body: { provider: 'api_key' }, field: 'name' },
      { name: `GET integration ${n}`, method: 'GET', path: `/v1/admin/integrations/${n}`, field: 'name' },
      { name: `DELETE integration ${n}`, method: 'DELETE', path: `/v1/admin/integrations/${n}`, field: 'name' },
      { name: `PUT agent ${n}`, path: `/v1/admin/agents/${n}`, body: { name: 'x' }, field: 'client_id' },
      { name: `PUT policy ${n}`, path: `/v1/admin/policies/${n}`, body: policy({}), field: 'name' },
      { name: `PUT connection user ${n}`, path: `/v1/admin/connections/openai/users/${n}`, body: { api_key: 'k' }, field: 'user' },
      { name: `DELETE connection user ${n}`, method: 'DELETE', path: `/v1/admin/connections/openai/users/${n}`, field: 'user' },
      {
        name: `PUT connection integration ${n}`,
        path: `/v1/admin/connections/${n}/users/alice`,
        body: { api_key: 'k' },
        field: 'integration',
      },
    ];
    it.each(hostile.flatMap(routes))('$name → 400, nothing written', expectRefused);

    it('injection and traversal strings in the release path → 400, nothing released', async () => {
      for (const n of hostile) {
        const res = await rawCall(v.url, 'POST', `/v1/connections/${n}/token`, agentToken());
        expect({ n, status: res.status, code: res.body?.code }).toEqual({ n, status: 400, code: 'validation_failed' });
      }
    });

    it('names longer than the allowlist, and malformed percent-encoding, are refused, nothing written', async () => {
      const before = await snapshot();
      for (const n of ['a'.repeat(129), 'a'.repeat(5000), '%E0%A4%A', 'a%zz']) {
        for (const [method, path, body] of [
          ['PUT', `/v1/admin/agents/${n}`, { name: 'x' }],
          ['PUT', `/v1/admin/connections/openai/users/${n}`, { api_key: 'k' }],
          ['DELETE', `/v1/admin/integrations/${n}`, undefined],
        ] as const) {
          const res = await v.call(method, path, { token: admin(), body });
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
        }
      }
      expect(await snapshot()).toEqual(before);
    });

    // KNOWN BUG (reported; the fix is in bootstrap.ts): Fastify's router refuses parameters longer
    // than its default maxParamLength (100), and malformed percent-encoding, itself: a 414 / 400 in
    // Fastify's own JSON (not problem+json) that quotes the whole path back. It so also refuses names
    // of 101-128 characters, which the name allowlist accepts. Fix: `new FastifyAdapter({
    // maxParamLength: 128, frameworkErrors: <send a 400 problem> })`.
    it('router refusals (too-long name, bad percent-encoding) are 400 validation_failed problems that do not quote the path', async () => {
      for (const n of ['a'.repeat(5000), `${'c'.repeat(20)}%E0%A4%A`]) {
        const res = await v.call('PUT', `/v1/admin/agents/${n}`, { token: admin(), body: { name: 'x' } });
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(res.body.code).toBe('validation_failed');
        expect(res.text).not.toContain('c'.repeat(20));
        expect(res.text).not.toContain('a'.repeat(200));
      }
    });

    it('a 128-character name (the allowlist maximum) is accepted', async () => {
      const n = 'b'.repeat(128);
      const res = await v.call('PUT', `/v1/admin/agents/${n}`, { token: admin(), body: { name: 'x' } });
      expect(res.status).toBe(201);
      await v.call('DELETE', `/v1/admin/agents/${n}`, { token: admin() });
    });
  });

  describe('list filters are allowlisted (SECURITY 28)', () => {
    const refused: Array<[string, string]> = [
      ['/v1/admin/connections?sort=integration', 'sort'],
      ['/v1/admin/connections?order=desc', 'order'],
      ['/v1/admin/connections?tenant=globex', 'tenant'],
      ['/v1/admin/connections?tenantId=globex', 'tenantId'],
      [`/v1/admin/connections?user=${encodeURIComponent("' OR 1=1 --")}`, 'user'],
      [`/v1/admin/connections?integration=${encodeURIComponent('openai; DROP TABLE connections')}`, 'integration'],
      [`/v1/admin/connections?status=${encodeURIComponent("active' --")}`, 'status'],
      ['/v1/admin/connections?limit=-1', 'limit'],
      ['/v1/admin/connections?limit=1e9', 'limit'],
      ['/v1/admin/connections?limit=0', 'limit'],
      ['/v1/admin/connections?limit=1001', 'limit'],
      ['/v1/admin/connections?limit=abc', 'limit'],
      ['/v1/admin/connections?user=alice&user=bob', 'user'],
      ['/v1/admin/connections?user[]=alice', '(field)'],
      ['/v1/admin/audit?sort=at', 'sort'],
      ['/v1/admin/audit?order=asc', 'order'],
      ['/v1/admin/audit?tenant=globex', 'tenant'],
      [`/v1/admin/audit?user=${encodeURIComponent("' OR 1=1 --")}`, 'user'],
      [`/v1/admin/audit?outcome=${encodeURIComponent("allowed' --")}`, 'outcome'],
      [`/v1/admin/audit?action=${encodeURIComponent('credential.release; --')}`, 'action'],
      [`/v1/admin/audit?agent=${encodeURIComponent('a1) OR (1=1')}`, 'agent'],
      ['/v1/admin/audit?since=yesterday', 'since'],
      ['/v1/admin/audit?cursor=Jyk7LS0', 'cursor'],
      ['/v1/admin/audit?limit=-1', 'limit'],
      ['/v1/admin/audit?limit=1e9', 'limit'],
      ['/v1/admin/audit?user=alice&user=bob', 'user'],
    ];
    it.each(refused)('%s → 400 naming %s', async (path, field) => {
      const res = await v.call('GET', path, { token: admin() });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it('allowed connection filters select exactly what they say', async () => {
      const a = admin();
      const all = await v.call('GET', '/v1/admin/connections', { token: a });
      expect(all.status).toBe(200);
      expect(all.body.connections.map((c: { user: string }) => c.user)).toEqual(['alice', 'carol']);
      const alice = await v.call('GET', '/v1/admin/connections?user=alice&integration=openai&status=active', { token: a });
      expect(alice.body.connections).toHaveLength(1);
      expect(alice.body.connections[0]).toMatchObject({ user: 'alice', integration: 'openai', status: 'active' });
      expect((await v.call('GET', '/v1/admin/connections?status=revoked', { token: a })).body.connections).toEqual([]);
      expect((await v.call('GET', '/v1/admin/connections?integration=other', { token: a })).body.connections).toEqual([]);
      expect((await v.call('GET', '/v1/admin/connections?limit=1', { token: a })).body.connections).toHaveLength(1);
      expect((await v.call('GET', '/v1/admin/connections?limit=1000', { token: a })).body.connections).toHaveLength(2);
    });

    it('allowed audit filters select exactly what they say', async () => {
      const a = admin();
      expect((await v.call('POST', '/v1/connections/openai/token', { token: agentToken('carol') })).status).toBe(200);
      const res = await v.call(
        'GET',
        '/v1/admin/audit?action=credential.release&outcome=allowed&user=carol&agent=a1&integration=openai&limit=1',
        { token: a },
      );
      expect(res.status).toBe(200);
      expect(res.body.events).toHaveLength(1);
      expect(res.body.events[0]).toMatchObject({
        action: 'credential.release',
        outcome: 'allowed',
        user: 'carol',
        agent: 'a1',
        integration: 'openai',
      });
      const since = new Date(Date.now() + 60_000).toISOString();
      expect((await v.call('GET', `/v1/admin/audit?since=${since}`, { token: a })).body.events).toEqual([]);
    });
  });

  describe('release body', () => {
    const release = (opts: { body?: unknown; raw?: string; headers?: Record<string, string> }) =>
      v.call('POST', '/v1/connections/openai/token', { token: agentToken(), ...opts });
    const allowedReleases = async (): Promise<number> =>
      (
        await v.db.ds.query(`SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'credential.release' AND outcome = 'allowed'`)
      )[0].n;

    it('no body and {} → the key is released as usual', async () => {
      for (const res of [await release({}), await release({ body: {} })]) {
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ integration: 'openai', type: 'api_key', api_key: 'sk-alice-1' });
      }
    });

    it('malformed JSON → 400 invalid_request, nothing released', async () => {
      const before = await allowedReleases();
      const res = await release({ raw: '{"scopes": [' });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('invalid_request');
      expect(res.text).not.toContain('sk-alice-1');
      expect(await allowedReleases()).toBe(before);
    });

    // Once a bug: the release body was declared `ReleaseDto | undefined`, which reaches the validation
    // pipe as `Object`, so bad bodies went through unvalidated (a 500, or a release ignoring them).
    // The release route (apps/vault/release/release.route.ts) now validates every body it gets.
    it.each([
      ['{ "scopes": "x" }', { body: { scopes: 'x' } }, 'scopes'],
      ['{ "scopes": [1] }', { body: { scopes: [1] } }, 'scopes'],
      ['{ "scopes": [{}] }', { body: { scopes: [{}] } }, 'scopes'],
      ['{ "extra": 1 }', { body: { extra: 1 } }, 'extra'],
      ['{ "tenant": "globex" }', { body: { tenant: 'globex' } }, 'tenant'],
      ['an array', { body: [] }, '(body)'],
      ['a string', { body: 'x' }, '(body)'],
      ['null', { raw: 'null' }, '(body)'],
      ['text/plain', { raw: '{}', headers: { 'content-type': 'text/plain' } }, '(body)'],
      ['form-urlencoded', { raw: 'scopes=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, '(body)'],
    ])('%s → 400 validation_failed naming the field, nothing released', async (_label, opts, field) => {
      const before = await allowedReleases();
      const res = await release(opts);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      expect(res.text).not.toContain('sk-alice-1');
      expect(await allowedReleases()).toBe(before);
    });

    it('whatever the body, a malformed scopes request never releases the key', async () => {
      for (const body of [{ scopes: 'x' }, { scopes: [1] }, { scopes: [{}] }, { scopes: { $gt: '' } }]) {
        const res = await release({ body });
        expect(res.status).not.toBe(200);
        expect(res.text).not.toContain('sk-alice-1');
      }
    });
  });
});
