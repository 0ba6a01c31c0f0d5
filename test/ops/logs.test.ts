import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { LogCapture } from '../support/log-capture';
import { startTestVault, TestVault } from '../support/vault';
import { JsonLines, linesWith, secretForms } from './support';

/**
 * The JSON logs (pino via nestjs-pino) under traffic that carries canary secrets in every place a
 * request can carry one — bodies (admin writes, the token endpoint's form, malformed JSON,
 * validation failures, a database error whose parameters hold the secret), the Authorization,
 * Cookie and X-Api-Key headers, query strings (`code`, `state`) and paths (connect links) — plus
 * Nest loggers handed secret-named fields and errors. No canary, in any form, is in any line;
 * every request line has its request id, which the response carries and which Nest's own lines
 * logged while handling the request repeat.
 */

const rand = () => randomBytes(8).toString('hex');
const API_KEY = `sk-logcanary-${rand()}`;
const CLIENT_SECRET = `cs-logcanary-${rand()}`;
const HEADER_SECRET = `hdr-logcanary-${rand()}`;
const QUERY_SECRET = `q-logcanary-${rand()}`;
const PATH_SECRET = `p-logcanary-${rand()}`;
const FORM_SECRET = `f-logcanary-${rand()}`;
const NEST_SECRET = `n-logcanary-${rand()}`;

describe('structured logs: request ids and redaction, proven with canaries (SECURITY 26)', () => {
  const logs = new JsonLines();
  const console = new LogCapture();
  const canaries: string[] = [API_KEY, CLIENT_SECRET, HEADER_SECRET, QUERY_SECRET, PATH_SECRET, FORM_SECRET, NEST_SECRET];
  /** Every response's request id, by what was asked. */
  const answered: Array<{ what: string; status: number; requestId: string | null }> = [];
  let v: TestVault;
  const T = 'acme';

  async function call(method: string, path: string, opts: Parameters<TestVault['call']>[2] = {}) {
    const res = await v.call(method, path, opts);
    answered.push({ what: `${method} ${path}`, status: res.status, requestId: res.headers.get('x-request-id') });
    return res;
  }

  beforeAll(async () => {
    console.start({ quiet: true });
    v = await startTestVault({ LOG_LEVEL: 'debug' }, { logStream: logs });
    const admin = v.issuer.adminToken(T);
    const agent = v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'] });
    // Bearer tokens are secrets too.
    canaries.push(admin, agent);

    const put = async (path: string, body: unknown, status = 201) =>
      expect((await call('PUT', path, { token: admin, body })).status).toBe(status);
    await put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await put('/v1/admin/integrations/gcal', {
      provider: 'google',
      client_id: 'gcal-client',
      client_secret: CLIENT_SECRET,
      scopes: ['calendar.readonly'],
    });
    await put('/v1/admin/policies/p1', { agents: ['mcp-1'], integrations: ['*'], effect: 'allow' });
    await put('/v1/admin/agents/mcp-1', { name: 'MCP' });
    const withSecret = await call('PUT', '/v1/admin/agents/mcp-2', {
      token: admin,
      body: { name: 'secret agent', auth_method: 'client_secret_basic' },
    });
    canaries.push(withSecret.body.client_secret);
    await put('/v1/admin/connections/openai/users/alice', { api_key: API_KEY });

    // The release itself (its response carries the canary; the logs must not).
    const released = await call('POST', '/v1/connections/openai/token', { token: agent, headers: { 'x-request-id': 'release-1' } });
    expect(released.body.api_key).toBe(API_KEY);

    // A release whose ciphertext fails to decrypt: Nest's loggers write in libs/crypto and the error classifier, after
    // awaits, on the release route (a plain Fastify route).
    await put('/v1/admin/connections/openai/users/carol', { api_key: API_KEY });
    await v.db.ds.query(
      `UPDATE vault.connections SET api_key_ct = set_byte(api_key_ct, 20, get_byte(api_key_ct, 20) # 1) WHERE subject = 'carol'`,
    );
    const carol = v.issuer.agentToken({ tenant: T, user: 'carol', agent: 'mcp-1', integrations: ['openai'] });
    canaries.push(carol);
    const undecryptable = await call('POST', '/v1/connections/openai/token', {
      token: carol,
      headers: { 'x-request-id': 'release-decrypt-1' },
    });
    expect(undecryptable.status).toBe(500);

    // Secrets in headers, query strings and paths.
    expect((await call('POST', '/v1/connections/openai/token', { token: HEADER_SECRET })).status).toBe(401);
    expect(
      (
        await call('GET', '/v1/admin/agents', {
          headers: { authorization: `Basic ${Buffer.from(`x:${HEADER_SECRET}`).toString('base64')}`, 'x-api-key': HEADER_SECRET },
        })
      ).status,
    ).toBe(401);
    expect((await call('GET', '/connections', { headers: { cookie: `vault_connect=${HEADER_SECRET}` } })).status).toBe(403);
    expect((await call('GET', `/oauth/callback?code=${QUERY_SECRET}&state=${QUERY_SECRET}`)).status).toBe(400);
    expect((await call('GET', `/v1/admin/connections?user=${QUERY_SECRET}'`, { token: admin })).status).toBe(400);
    expect([400, 403, 404]).toContain((await call('GET', `/connect/${PATH_SECRET}`)).status);
    expect((await call('GET', `/nowhere/${PATH_SECRET}?access_token=${QUERY_SECRET}`)).status).toBe(404);

    // Secrets in bodies: the token endpoint's form, validation failures, malformed JSON.
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: FORM_SECRET,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      client_id: 'mcp-2',
      client_secret: FORM_SECRET,
      client_assertion: FORM_SECRET,
      code_verifier: FORM_SECRET,
    });
    expect(
      (await call('POST', '/oauth2/token', { raw: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }))
        .status,
    ).toBeGreaterThanOrEqual(400);
    expect(
      (await call('PUT', '/v1/admin/connections/openai/users/erin', { token: admin, body: { api_key: API_KEY, tenantId: API_KEY } }))
        .status,
    ).toBe(400);
    expect((await call('PUT', '/v1/admin/connections/openai/users/erin', { token: admin, raw: `{"api_key": "${API_KEY}",}` })).status).toBe(
      400,
    );
    expect(
      (await call('PUT', '/v1/admin/integrations/bad', { token: admin, body: { provider: 'api_key', client_secret: CLIENT_SECRET } }))
        .status,
    ).toBe(400);

    // A database error whose INSERT parameters hold the sealed canary: an opaque 500 logged with its error id.
    await v.db.ds.query(`ALTER TABLE vault.connections ADD CONSTRAINT log_probe CHECK (false) NOT VALID`);
    try {
      const failed = await call('PUT', '/v1/admin/connections/openai/users/bob', {
        token: admin,
        body: { api_key: API_KEY },
        headers: { 'x-request-id': 'db-error-1' },
      });
      expect(failed.status).toBe(500);
    } finally {
      await v.db.ds.query(`ALTER TABLE vault.connections DROP CONSTRAINT log_probe`);
    }

    // Request ids that do not look like ids are replaced.
    await call('GET', '/v1/admin/policies', { token: admin, headers: { 'x-request-id': 'has spaces and {braces}' } });
    await call('GET', '/v1/admin/policies', { token: admin, headers: { 'x-request-id': 'x'.repeat(200) } });

    // Nest's own loggers, handed secrets the careless way (fields named like secrets, errors with them in the message).
    const nest = new Logger('ops-test');
    nest.warn({
      msg: 'careless object',
      client_secret: NEST_SECRET,
      nested: { authorization: `Bearer ${NEST_SECRET}`, list: [{ refresh_token: NEST_SECRET, code_verifier: NEST_SECRET }] },
      Cookie: NEST_SECRET,
      'X-Api-Key': NEST_SECRET,
    });
    nest.error(Object.assign(new Error(`failed with ${NEST_SECRET}`), { parameters: [NEST_SECRET], query: `INSERT ... ${NEST_SECRET}` }));
    nest.log(
      {
        cause: {
          api_key: NEST_SECRET,
          password: NEST_SECRET,
          subject_token: NEST_SECRET,
          client_assertion: NEST_SECRET,
          code: NEST_SECRET,
        },
      },
      'ops-test',
    );
  });

  afterAll(async () => {
    console.stop();
    await v?.close();
  });

  it('every line is JSON with a level, an ISO time and a message', () => {
    expect(logs.lines.length).toBeGreaterThan(40);
    for (const r of logs.records()) {
      expect(typeof r.level).toBe('string');
      expect(String(r.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(typeof r.msg).toBe('string');
    }
  });

  it('no canary, in any form, in any log line (nor on stdout, stderr or the console)', () => {
    const needles = canaries.flatMap(secretForms);
    expect(canaries.length).toBe(11);
    expect(linesWith(logs.lines, needles)).toEqual([]);
    expect(console.find(needles)).toEqual([]);
    // No headers, bodies or URLs at all: only route templates.
    expect(linesWith(logs.lines, ['"headers"', '"body"', '"url"', '"query"', 'logcanary'])).toEqual([]);
  });

  it('secret-named fields are redacted at any depth; errors are logged as class and code only', () => {
    const recs = logs.records().filter((r) => r.context === 'ops-test');
    expect(recs).toHaveLength(3);
    const [careless, error, cause] = recs;
    expect(careless).toMatchObject({
      level: 'warn',
      client_secret: '[REDACTED]',
      Cookie: '[REDACTED]',
      'X-Api-Key': '[REDACTED]',
      nested: { authorization: '[REDACTED]', list: [{ refresh_token: '[REDACTED]', code_verifier: '[REDACTED]' }] },
    });
    expect(error).toMatchObject({ level: 'error', err: { type: 'Error' } });
    expect(Object.keys(error.err as object)).toEqual(['type']);
    expect(cause).toMatchObject({
      level: 'info',
      cause: {
        api_key: '[REDACTED]',
        password: '[REDACTED]',
        subject_token: '[REDACTED]',
        client_assertion: '[REDACTED]',
        code: '[REDACTED]',
      },
    });
  });

  it('one request line per request, with its request id, which the response carries', () => {
    const requests = logs.records().filter((r) => r.msg === 'request completed' || r.msg === 'request errored');
    expect(requests).toHaveLength(answered.length);
    for (const a of answered) {
      expect(a.requestId).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      const line = requests.find((r) => r.reqId === a.requestId);
      expect(line).toMatchObject({ status: a.status, method: a.what.split(' ')[0] });
      expect(typeof line!.route).toBe('string');
      expect(typeof line!.responseTime).toBe('number');
    }
    expect(new Set(answered.map((a) => a.requestId)).size).toBe(answered.length);
    // Routes are templates: the connect link's secret and the unknown path are not in them.
    expect(requests.map((r) => r.route)).toEqual(
      expect.arrayContaining(['/v1/connections/:integration/token', '/connect/:secret', '(no route)']),
    );
  });

  it('an incoming X-Request-Id is kept when it looks like an id, replaced otherwise', () => {
    expect(answered.find((a) => a.what === 'POST /v1/connections/openai/token')!.requestId).toBe('release-1');
    const replaced = answered.filter((a) => a.what === 'GET /v1/admin/policies').map((a) => a.requestId);
    for (const id of replaced) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it("Nest's lines logged while handling a request carry its request id (the 500's error id line)", () => {
    const errorLine = logs.records().find((r) => r.context === 'errors' && /error_id=.* type=QueryFailedError/.test(String(r.msg)));
    expect(errorLine).toMatchObject({ level: 'error', reqId: 'db-error-1' });
    expect(String(errorLine!.msg)).toMatch(/type=QueryFailedError code=23514/);
    expect(logs.records().find((r) => r.reqId === 'db-error-1' && r.msg === 'request errored')).toMatchObject({
      status: 500,
      level: 'error',
    });
  });

  it("Nest's lines logged by libs while a release is handled carry its request id (the route is not Nest's)", () => {
    const lines = logs.records().filter((r) => r.reqId === 'release-decrypt-1');
    expect(lines.find((r) => r.context === 'crypto')).toMatchObject({
      level: 'error',
      msg: expect.stringMatching(/^ALERT decrypt_failed /),
    });
    expect(lines.find((r) => r.context === 'errors')).toMatchObject({ level: 'error', msg: expect.stringMatching(/^error_id=/) });
    expect(lines.find((r) => r.msg === 'request errored')).toMatchObject({ status: 500, route: '/v1/connections/:integration/token' });
    // No line of another request carries it, and none of its lines lacks it.
    expect(logs.records().filter((r) => r.context === 'crypto' && r.reqId !== 'release-decrypt-1')).toEqual([]);
  });
});

describe('LOG_LEVEL', () => {
  it('warn: no request lines, warnings still written', async () => {
    const logs = new JsonLines();
    const v = await startTestVault({ LOG_LEVEL: 'warn' }, { logStream: logs });
    try {
      expect((await v.call('GET', '/v1/admin/agents', { token: v.issuer.adminToken('acme') })).status).toBe(200);
      new Logger('ops-test').warn('level check');
      new Logger('ops-test').log('not at warn');
    } finally {
      await v.close();
    }
    const recs = logs.records();
    expect(recs.filter((r) => r.msg === 'request completed')).toEqual([]);
    expect(recs.filter((r) => r.msg === 'level check')).toHaveLength(1);
    expect(recs.filter((r) => r.msg === 'not at warn')).toEqual([]);
    expect(recs.every((r) => r.level === 'warn' || r.level === 'error' || r.level === 'fatal')).toBe(true);
  });
});

describe('a request the client abandons', () => {
  it('still gets its one request line, with its request id', async () => {
    const logs = new JsonLines();
    const v = await startTestVault({}, { logStream: logs });
    try {
      const { port } = new URL(v.url);
      // Headers and half the announced body, then the connection goes away.
      const socket = connect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        'PUT /v1/admin/agents/abandoned HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n' +
          'X-Request-Id: abandoned-1\r\n\r\n{"name":',
      );
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !logs.records().some((r) => r.reqId === 'abandoned-1')) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await v.close();
    }
    const lines = logs.records().filter((r) => r.reqId === 'abandoned-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: 'PUT', route: '/v1/admin/agents/:client_id' });
    expect(lines[0].msg).toBe('request aborted');
  });
});
