import { ConsoleLogger, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { format, inspect } from 'node:util';
import { Secret } from '../../libs/kernel';
import { KeyVaultEmulator } from '../support/keyvault-emulator';
import { LogCapture } from '../support/log-capture';
import { TestDatabase } from '../support/database';
import { startTestVault, TestVault } from '../support/vault';
import { secretForms } from '../ops/support';

/**
 * SECURITY.md 26: canary secrets planted through the API, then driven through every error
 * path we can reach (database errors carrying the sealed canary as a parameter, decrypt
 * failures, validation errors and malformed JSON quoting it, Key Vault HTTP errors with their
 * `cause` chain, listings). The canary — as text, hex, spaced hex and base64 at every byte
 * alignment — must appear in no response body or header, no log line (Nest's logger, stdout,
 * stderr, console), no audit row and no column of the database except as ciphertext.
 */

const rand = () => randomBytes(8).toString('hex');
const API_KEY = `sk-canary-apikey-${rand()}`;
const CLIENT_SECRET = `cs-canary-secret-${rand()}`;
/**
 * Not a secret: rides in the parameters of a failing INSERT, so finding it in a log means SQL parameters or
 * pg error details were logged.
 */
const SQL_MARKER = `sqlparam-marker-${rand()}`;
const KV_TOKEN = `kv-canary-token-${rand()}`;

// Every form each canary takes when serialised carelessly (ops/support), compared case-insensitively.
const CANARY_FORMS = [...secretForms(API_KEY), ...secretForms(CLIENT_SECRET), ...secretForms(KV_TOKEN)];

/** The canary forms found in `text`. */
function leaked(text: string, needles = CANARY_FORMS): string[] {
  const t = text.toLowerCase();
  return needles.filter((n) => t.includes(n));
}

interface Seen {
  what: string;
  status: number;
  headers: string;
  text: string;
}

async function scanDatabase(db: TestDatabase, needles: string[]): Promise<string[]> {
  const tables: Array<{ s: string; t: string }> = await db.ds.query(
    `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
  );
  expect(tables.map((x) => x.t)).toEqual(
    expect.arrayContaining(['connections', 'integrations', 'audit_events', 'tenant_keys', 'system_keys']),
  );
  const hits: string[] = [];
  for (const { s, t } of tables) {
    const rows: Array<{ row: string }> = await db.ds.query(`SELECT x::text AS row FROM "${s}"."${t}" x`);
    for (const r of rows) if (leaked(r.row, needles).length) hits.push(`${s}.${t}: ${r.row}`);
  }
  return hits;
}

describe('the leak scanner itself', () => {
  it('finds a canary as text, hex, spaced hex, and base64 at any offset', () => {
    expect(leaked(`x ${API_KEY} y`)).not.toEqual([]);
    expect(leaked(`\\x00${Buffer.from(API_KEY).toString('hex').toUpperCase()}ff`)).not.toEqual([]);
    expect(leaked(inspect(Buffer.from(API_KEY)))).not.toEqual([]);
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      expect(leaked(Buffer.from(prefix + API_KEY + 'tail').toString('base64'))).not.toEqual([]);
      expect(leaked(Buffer.from(prefix + CLIENT_SECRET).toString('base64url'))).not.toEqual([]);
    }
    expect(leaked(JSON.stringify({ api_key: API_KEY.slice(0, -1) }))).toEqual([]);
  });
});

describe('Secret redacts itself (SECURITY 26, STYLE 5)', () => {
  const value = `secret-canary-${rand()}`;
  const s = Secret.of(value);

  it('in String(), template literals, concatenation, JSON.stringify and util.inspect', () => {
    const renderings = [
      String(s),
      `${s}`,
      'x' + s,
      JSON.stringify(s),
      JSON.stringify({ nested: { s, list: [s] } }),
      inspect(s),
      inspect({ nested: { s } }, { depth: 10, showHidden: true }),
      inspect(s, { customInspect: false, showHidden: true }),
      format('%s %o %O %j', s, s, { s }, { s }),
      Object.keys(s).join(),
      JSON.stringify({ ...s }),
      JSON.stringify(structuredClone({ s: { ...s } })),
    ];
    for (const r of renderings) expect(r).not.toContain(value);
    expect(String(s)).toBe('[REDACTED]');
    expect(JSON.stringify({ s })).toBe('{"s":"[REDACTED]"}');
    expect(s.reveal()).toBe(value);
  });

  it('in console.log and in Nest loggers', () => {
    let out = '';
    const sink = new Writable({ write: (chunk, _enc, done) => ((out += String(chunk)), done()) });
    const c = new Console({ stdout: sink, stderr: sink });
    c.log(s);
    c.log('key=%s', s);
    c.log({ credentials: { api_key: s } });
    c.error(new Error('failed', { cause: { secret: s } }));
    c.dir({ s }, { depth: 10, showHidden: true });
    c.table([{ s }]);
    expect(out).toContain('[REDACTED]');
    expect(out).not.toContain(value);

    const logs = new LogCapture();
    logs.start({ quiet: true });
    try {
      const nest = new ConsoleLogger('leaks', { json: false });
      nest.log(s);
      nest.error({ api_key: s });
      nest.warn(`key ${s}`);
      new ConsoleLogger('leaks', { json: true }).log({ api_key: s });
      console.log(s, { s });
      console.error('%s', s);
    } finally {
      logs.stop();
    }
    // Nest's ConsoleLogger writes to stdout/stderr itself; console.* went through the capture too.
    expect(logs.lines.filter((l) => /^std(out|err) /.test(l) && l.includes('[REDACTED]')).length).toBe(4);
    expect(logs.lines.filter((l) => l.startsWith('console.') && l.includes('[REDACTED]')).length).toBe(2);
    expect(logs.find([value])).toEqual([]);
  });
});

describe('canary secrets through every error path (SECURITY 26)', () => {
  const logs = new LogCapture();
  const seen: Seen[] = [];
  /** The one response that must carry the canary: the release itself (the positive control). */
  const expectedRelease: Seen[] = [];
  let v: TestVault;
  const T = 'acme';
  const admin = () => v.issuer.adminToken(T);
  const agentToken = (user: string, integration = 'openai') =>
    v.issuer.agentToken({ tenant: T, user, agent: 'a1', integrations: [integration] });

  async function call(vault: TestVault, method: string, path: string, opts: Parameters<TestVault['call']>[2] = {}) {
    const res = await vault.call(method, path, opts);
    seen.push({
      what: `${method} ${path.slice(0, 120)}`,
      status: res.status,
      headers: [...res.headers].map(([k, h]) => `${k}: ${h}`).join('\n'),
      text: res.text,
    });
    return res;
  }

  /** A 4xx problem that quotes none of the canaries (or the marker). */
  function expectOpaqueProblem(res: { status: number; headers: Headers; text: string }, status: number) {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(leaked(res.text, [...CANARY_FORMS, SQL_MARKER.toLowerCase()])).toEqual([]);
  }

  beforeAll(async () => {
    logs.start();
    v = await startTestVault({}, { logger: logs });
    const a = admin();
    const put = async (path: string, body: unknown) => expect((await call(v, 'PUT', path, { token: a, body })).status).toBe(201);
    await put('/v1/admin/integrations/openai', { provider: 'api_key', display_name: 'OpenAI' });
    await put('/v1/admin/integrations/gcal', {
      provider: 'google',
      client_id: 'gcal-client',
      client_secret: CLIENT_SECRET,
      scopes: ['calendar.readonly'],
    });
    await put('/v1/admin/agents/a1', { name: 'MCP tool server' });
    await put('/v1/admin/policies/p1', { agents: ['a1'], integrations: ['*'], effect: 'allow' });
    await put('/v1/admin/connections/openai/users/alice', { api_key: API_KEY });
    await put('/v1/admin/connections/openai/users/dave', { api_key: API_KEY });
  });
  afterAll(async () => {
    logs.stop();
    await v?.close();
  });

  it('positive control: the canary was stored and is released to the allowed agent', async () => {
    const res = await v.call('POST', '/v1/connections/openai/token', { token: agentToken('alice') });
    expect(res.status).toBe(200);
    expect(res.body.api_key).toBe(API_KEY);
    expectedRelease.push({ what: 'release', status: res.status, headers: '', text: res.text });
    expect(leaked(res.text)).not.toEqual([]);
  });

  it(
    'a database error while storing the canary → opaque 500 with an error_id; no SQL, parameters or row in the body or ' +
      'the logs; nothing stored',
    async () => {
      await v.db.ds.query(`ALTER TABLE vault.connections ADD CONSTRAINT leak_probe CHECK (false) NOT VALID`);
      await v.db.ds.query(`ALTER TABLE vault.integrations ADD CONSTRAINT leak_probe_i CHECK (false) NOT VALID`);
      try {
        const conn = await call(v, 'PUT', '/v1/admin/connections/openai/users/bob', { token: admin(), body: { api_key: API_KEY } });
        // The client secret is sealed into the INSERT's parameters; the display name rides in them in clear.
        const integ = await call(v, 'PUT', '/v1/admin/integrations/gdrive', {
          token: admin(),
          body: { provider: 'google', client_secret: CLIENT_SECRET, display_name: SQL_MARKER },
        });
        for (const res of [conn, integ]) {
          expect(res.status).toBe(500);
          expect(res.headers.get('content-type')).toContain('application/problem+json');
          expect(Object.keys(res.body).sort()).toEqual(['code', 'detail', 'error_id', 'instance', 'status', 'title', 'type']);
          expect(res.body).toMatchObject({ status: 500, code: 'internal_error', detail: 'An internal error occurred.' });
          expect(res.body.error_id).toMatch(/^[0-9a-f-]{36}$/);
          expect(res.text).not.toMatch(/insert|select|constraint|leak_probe|23514|violat|failing row|\$\d/i);
          expect(leaked(res.text, [...CANARY_FORMS, SQL_MARKER.toLowerCase()])).toEqual([]);
          // Correlatable server-side: the id is logged, with the error's class and code only.
          const line = logs.find([res.body.error_id]);
          expect(line).toHaveLength(1);
          expect(line[0]).toMatch(/type=QueryFailedError code=23514/);
        }
        expect(logs.find(['INSERT INTO', 'leak_probe', 'Failing row', 'violates check', SQL_MARKER])).toEqual([]);
      } finally {
        await v.db.ds.query(`ALTER TABLE vault.connections DROP CONSTRAINT leak_probe`);
        await v.db.ds.query(`ALTER TABLE vault.integrations DROP CONSTRAINT leak_probe_i`);
      }
      expect(await v.db.ds.query(`SELECT 1 FROM vault.connections WHERE subject = 'bob'`)).toEqual([]);
      expect(await v.db.ds.query(`SELECT 1 FROM vault.integrations WHERE name = 'gdrive'`)).toEqual([]);
    },
  );

  it('a ciphertext that fails to decrypt → opaque 500, audited as decrypt_failed, nothing of the canary anywhere', async () => {
    await v.db.ds.query(
      `UPDATE vault.connections SET api_key_ct = set_byte(api_key_ct, 20, get_byte(api_key_ct, 20) # 1) WHERE subject = 'dave'`,
    );
    const res = await call(v, 'POST', '/v1/connections/openai/token', { token: agentToken('dave') });
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'internal_error', error_id: expect.any(String) });
    expect(leaked(res.text)).toEqual([]);
    const [row] = await v.db.ds.query(
      `SELECT t::text AS row FROM vault.audit_events t WHERE reason = 'decrypt_failed' AND subject = 'dave'`,
    );
    expect(row).toBeDefined();
    expect(leaked(row.row)).toEqual([]);
  });

  describe('validation errors whose rejected values are the canary → 400 that never echoes a value', () => {
    const conn = '/v1/admin/connections/openai/users/erin';
    const cases: Array<[string, string, unknown]> = [
      ['extra field holding the canary', conn, { api_key: 'fine', tenantId: API_KEY }],
      ['canary in an array', conn, { api_key: [API_KEY] }],
      ['canary in an object', conn, { api_key: { value: API_KEY } }],
      ['canary too long', conn, { api_key: API_KEY + 'x'.repeat(8192) }],
      [
        'canary under an unknown nested key',
        '/v1/admin/policies/p9',
        { agents: ['a1'], integrations: ['openai'], effect: 'allow', users: { subjects: ['erin'], evil: API_KEY } },
      ],
      ['client_secret on an api_key integration', '/v1/admin/integrations/other', { provider: 'api_key', client_secret: CLIENT_SECRET }],
      [
        'client_secret with a bad scope',
        '/v1/admin/integrations/other',
        { provider: 'google', client_secret: CLIENT_SECRET, scopes: [`${CLIENT_SECRET} x`] },
      ],
      ['client_secret as the provider', '/v1/admin/integrations/other', { provider: CLIENT_SECRET }],
      [
        'client_secret in a URL',
        '/v1/admin/integrations/other',
        {
          provider: 'custom-oauth2',
          client_secret: CLIENT_SECRET,
          authorize_url: `http://idp.example/?s=${CLIENT_SECRET}`,
          token_url: 'https://idp.example/t',
        },
      ],
      ['client_secret as an object', '/v1/admin/integrations/other', { provider: 'google', client_secret: { $eq: CLIENT_SECRET } }],
      ['the body is the canary', conn, API_KEY],
      ['the body is an array of canaries', conn, [API_KEY, CLIENT_SECRET]],
    ];
    it.each(cases)('%s', async (_label, path, body) => {
      const res = await call(v, 'PUT', path, { token: admin(), body });
      expectOpaqueProblem(res, 400);
      expect(res.body.code).toBe('validation_failed');
    });

    it('query parameters holding the canary', async () => {
      for (const path of [
        `/v1/admin/connections?user=${encodeURIComponent(API_KEY + "'")}`,
        `/v1/admin/connections?${encodeURIComponent(API_KEY)}'=1`,
        `/v1/admin/audit?agent=${encodeURIComponent(API_KEY + ' OR 1=1')}`,
        `/v1/admin/audit?since=${encodeURIComponent(API_KEY)}`,
        `/v1/admin/audit?cursor=${encodeURIComponent(CLIENT_SECRET + '!')}`,
      ]) {
        expectOpaqueProblem(await call(v, 'GET', path, { token: admin() }), 400);
      }
    });

    it('a release body holding the canary', async () => {
      for (const body of [{ scopes: [`${API_KEY} x`] }, { extra: API_KEY }, [API_KEY], API_KEY]) {
        const res = await call(v, 'POST', '/v1/connections/openai/token', { token: agentToken('erin'), body });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(leaked(res.text)).toEqual([]);
      }
    });
  });

  describe('malformed and unacceptable bodies carrying the canary → 4xx that never echoes the body', () => {
    const conn = '/v1/admin/connections/openai/users/erin';
    it.each([
      ['truncated JSON', `{"api_key": "${API_KEY}`, 'application/json', 400],
      ['a trailing comma', `{"api_key": "${API_KEY}",}`, 'application/json', 400],
      ['a bad escape right after the canary', `{"api_key": "${API_KEY}\\q"}`, 'application/json', 400],
      ['unquoted canary', `{"api_key": ${API_KEY}}`, 'application/json', 400],
      ['__proto__ next to the canary', `{"api_key": "${API_KEY}", "__proto__": {"x": 1}}`, 'application/json', 400],
      ['the canary as text/plain', API_KEY, 'text/plain', 400],
      ['the canary form-urlencoded', `api_key=${API_KEY}`, 'application/x-www-form-urlencoded', 400],
      ['the canary as XML', `<api_key>${API_KEY}</api_key>`, 'application/xml', 415],
      ['over the body limit', JSON.stringify({ api_key: API_KEY + 'x'.repeat(300 * 1024) }), 'application/json', 413],
    ])('%s', async (_label, raw, contentType, status) => {
      const res = await call(v, 'PUT', conn, { token: admin(), raw, headers: { 'content-type': contentType } });
      expectOpaqueProblem(res, status);
    });

    it('nothing was stored for erin', async () => {
      expect(await v.db.ds.query(`SELECT 1 FROM vault.connections WHERE subject = 'erin'`)).toEqual([]);
    });
  });

  it('listings after the canaries were stored: connections, integrations, agents, policies, audit', async () => {
    const a = admin();
    for (const path of [
      '/v1/admin/connections',
      '/v1/admin/connections?user=alice',
      '/v1/admin/integrations',
      '/v1/admin/integrations/gcal',
      '/v1/admin/agents',
      '/v1/admin/policies',
      '/v1/admin/audit',
      '/v1/admin/audit?limit=200&outcome=allowed',
    ]) {
      const res = await call(v, 'GET', path, { token: a });
      expect(res.status).toBe(200);
      expect(leaked(res.text)).toEqual([]);
    }
    const gcal = seen.find((s) => s.what === 'GET /v1/admin/integrations/gcal')!;
    expect(JSON.parse(gcal.text)).toMatchObject({ has_client_secret: true });
  });

  describe('Key Vault HTTP errors with an Error.cause chain (azure provider on the emulator)', () => {
    let kv: KeyVaultEmulator;
    let az: TestVault;

    beforeAll(async () => {
      // The Key Vault bearer token is itself a canary: it rides in the headers of every SDK request.
      kv = await KeyVaultEmulator.start({ token: KV_TOKEN });
      await kv.createKey('kek', { kty: 'RSA-HSM', keySize: 2048 });
      az = await startTestVault(
        {
          ...kv.vaultEnv(),
          VAULT_KEY_HEALTH_TTL_MS: '0',
        },
        { logger: logs },
      );
      const put = await call(az, 'PUT', '/v1/admin/integrations/openai', {
        token: az.issuer.adminToken('initech'),
        body: { provider: 'api_key' },
      });
      expect(put.status).toBe(201);
    });
    afterAll(async () => {
      await az?.close();
      await kv?.dispose();
    });

    it.each([
      ['a 500 from Key Vault', { kind: 'error', status: 500, code: 'InternalError', count: Infinity } as const],
      ['a dropped connection', { kind: 'drop', count: Infinity } as const],
      ['a 403 from Key Vault', { kind: 'error', status: 403, code: 'Forbidden', count: Infinity } as const],
    ])('%s while storing the canary → 503 unavailable, nothing stored, nothing leaked', async (_label, fault) => {
      kv.inject(fault);
      try {
        const res = await call(az, 'PUT', '/v1/admin/connections/openai/users/alice', {
          token: az.issuer.adminToken('initech'),
          body: { api_key: API_KEY },
        });
        expect([500, 503]).toContain(res.status);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(leaked(res.text)).toEqual([]);
        expect(res.text).not.toMatch(/vault\.azure|127\.0\.0\.1|Bearer|RestError|ECONN|InternalError|Forbidden/);
      } finally {
        kv.clearFaults();
      }
      expect(await az.db.ds.query(`SELECT 1 FROM vault.connections`)).toEqual([]);
    });

    it('the same write succeeds once Key Vault answers (the path above really reached it)', async () => {
      const res = await call(az, 'PUT', '/v1/admin/connections/openai/users/alice', {
        token: az.issuer.adminToken('initech'),
        body: { api_key: API_KEY },
      });
      expect(res.status).toBe(201);
      const statuses = kv.requestLog.filter((e) => e.authorized).map((e) => e.status);
      expect(statuses).toEqual(expect.arrayContaining([500, 403, 200]));
      expect(statuses[statuses.length - 1]).toBe(200);
    });

    it('the azure-backed database holds the canary only as ciphertext', async () => {
      expect(await scanDatabase(az.db, CANARY_FORMS)).toEqual([]);
    });
  });

  it('nothing leaked: no response body or header, no log line, no audit row, no column of the database', async () => {
    // The scans below must have material: responses, errors logged with ids, audit events.
    expect(seen.length).toBeGreaterThan(40);
    expect(logs.find(['error_id=']).length).toBeGreaterThanOrEqual(3);

    const inResponses = seen
      .filter((s) => leaked(`${s.headers}\n${s.text}`).length > 0)
      .map((s) => `${s.what} → ${s.status}: ${s.text.slice(0, 200)}`);
    expect(inResponses).toEqual([]);
    expect(expectedRelease).toHaveLength(1);

    expect(logs.find(CANARY_FORMS)).toEqual([]);
    expect(logs.find([SQL_MARKER])).toEqual([]);

    const audit: Array<{ row: string }> = await v.db.ds.query(`SELECT t::text AS row FROM vault.audit_events t`);
    expect(audit.length).toBeGreaterThan(0);
    expect(audit.filter((r) => leaked(r.row).length > 0)).toEqual([]);

    expect(await scanDatabase(v.db, CANARY_FORMS)).toEqual([]);
    // …yet it is there, sealed: the integration secret and both keys have ciphertext.
    const [{ n }] = await v.db.ds.query(`SELECT count(*)::int AS n FROM vault.connections WHERE api_key_ct IS NOT NULL`);
    expect(n).toBe(2);
    const [{ cs }] = await v.db.ds.query(`SELECT count(*)::int AS cs FROM vault.integrations WHERE client_secret_ct IS NOT NULL`);
    expect(cs).toBe(1);
  });

  it('Nest loggers of the app reached the capture (so an empty scan means something)', () => {
    new Logger('leaks-test').warn('capture check');
    expect(logs.find(['capture check'])).toHaveLength(1);
  });
});
