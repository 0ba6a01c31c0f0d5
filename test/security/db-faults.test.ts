import { randomUUID } from 'node:crypto';
import { setTimeout as setTimeoutP } from 'node:timers/promises';
import { Client, Pool } from 'pg';
import { AUDIT_MAC_KEY, AuditMacKeySource, verifyAuditChain } from '../../libs/audit';
import { Keyring } from '../../libs/crypto';
import { DeadlineClient } from '../../libs/db';
import { asTenantId } from '../../libs/kernel';
import { CALLBACK, connectOverHttp, PUBLIC, Rig, T } from '../connect/support';
import { startTestProvider, TestProvider } from '../support/oidc-provider';
import { UserAgent } from '../support/oidc-provider/user-agent';
import { TcpProxy } from '../support/tcp-proxy';
import { startTestVault, TestVault } from '../support/vault';

interface Answer {
  status: number;
  text: string;
  body: any;
  contentType: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The failure detector for "hangs": far beyond any timeout the vault is configured with. */
const CLIENT_TIMEOUT_MS = 45000;

/**
 * SECURITY 35 (and the fail-closed rule for the database): the vault's Postgres connections
 * go through a real TCP proxy that resets them mid-request, hangs them, or refuses new ones.
 * Every answer is a correct 200 or a 503 `unavailable` problem, nothing is half-written, the
 * audit log matches what was released, and the pool recovers without a restart.
 */
describe('database faults (SECURITY 35)', () => {
  let proxy: TcpProxy;
  let provider: TestProvider;
  let v: TestVault;
  const admin = () => v.issuer.adminToken(T);
  const API_KEYS: Record<string, string> = { alice: 'sk-alice-db-faults', bob: 'sk-bob-db-faults' };
  let oauthBody: Record<string, unknown>;

  async function send(method: string, path: string, token: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(v.url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, text, body: parsed, contentType: res.headers.get('content-type') ?? '' };
  }

  const release = (user: string, integration: string, jti: string = randomUUID()) =>
    send(
      'POST',
      `/v1/connections/${integration}/token`,
      v.issuer.agentToken({ tenant: T, user, agent: 'mcp-1', integrations: [integration], claims: { jti } }),
    );

  function expectUnavailable(a: Answer): void {
    expect(a.contentType).toContain('application/problem+json');
    expect(a.body).toMatchObject({ status: 503, code: 'unavailable' });
  }

  async function allowedReleaseJtis(): Promise<string[]> {
    const rows: Array<{ jti: string }> = await v.db.ds.query(
      `SELECT details->>'jti' AS jti FROM vault.audit_events WHERE action = 'credential.release' AND outcome = 'allowed'`,
    );
    return rows.map((r) => r.jti);
  }

  /** Waits until no backend of the vault is running a statement (bounded; this is not a timing assertion). */
  async function vaultBackendsIdle(): Promise<void> {
    const db = new URL(v.db.url).pathname.slice(1);
    for (let i = 0; i < 500; i++) {
      const [{ n }] = await v.db.ds.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND ` +
          `application_name = 'credential-vault-api' AND state = 'active'`,
        [db],
      );
      if (n === 0) return;
      await sleep(20);
    }
    throw new Error("the vault's statements never finished");
  }

  async function expectChainIntact(): Promise<void> {
    const key = await v.vault.app.get<AuditMacKeySource>(AUDIT_MAC_KEY).macKey();
    expect(await verifyAuditChain(v.db.ds, key)).toMatchObject({ ok: true });
  }

  beforeAll(async () => {
    proxy = await TcpProxy.start(process.env.TEST_DATABASE_URL!);
    provider = await startTestProvider({ mode: 'google', redirectUris: [CALLBACK] });
    v = await startTestVault({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1' }, { databaseUrl: (url) => proxy.rewrite(url) });
    const put = async (path: string, body: unknown) => {
      const r = await v.call('PUT', path, { token: admin(), body });
      if (r.status >= 300) throw new Error(`${path}: ${r.status} ${r.text}`);
    };
    await put('/v1/admin/integrations/openai', { provider: 'api_key', display_name: 'OpenAI' });
    await put('/v1/admin/integrations/calendar', {
      provider: 'custom-oauth2',
      client_id: provider.clientId,
      client_secret: provider.clientSecret,
      authorize_url: `${provider.url}/auth`,
      token_url: `${provider.url}/token`,
      scopes: ['openid', 'email', 'calendar.read'],
      return_urls: ['https://app.test.example/settings/'],
      provider_options: {
        issuer: provider.issuer,
        require_iss: true,
        authorize_params: { access_type: 'offline', prompt: 'consent' },
        identity: { source: 'id_token', subject: 'sub', email: 'email' },
      },
    });
    await put('/v1/admin/agents/mcp-1', { name: 'agent' });
    await put('/v1/admin/policies/p', { agents: ['mcp-1'], integrations: ['openai', 'calendar'], effect: 'allow' });
    for (const [user, key] of Object.entries(API_KEYS)) await put(`/v1/admin/connections/openai/users/${user}`, { api_key: key });
    // carol connects her calendar through the real consent flow (browser → authorization server → callback).
    const rig = {
      v,
      provider,
      integration: 'calendar',
      admin,
      browser: () => new UserAgent((url) => (url.startsWith(PUBLIC) ? v.url + url.slice(PUBLIC.length) : url)),
    } as unknown as Rig;
    expect(await connectOverHttp(rig, 'carol')).toContain('connect_status=connected');
    const first = await release('carol', 'calendar');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ integration: 'calendar', type: 'oauth2', access_token: expect.any(String) });
    oauthBody = first.body;
  });
  afterAll(async () => {
    proxy?.resume();
    proxy?.refuseNew(false);
    await v?.close();
    await provider?.close();
    await proxy?.close();
  });

  it(
    'releases while every connection is reset, repeatedly: 200 with the full body or 503; the audit log matches; the ' + 'pool recovers',
    async () => {
      const jobs: Array<{ user: string; integration: string; expected: unknown }> = [
        { user: 'alice', integration: 'openai', expected: { integration: 'openai', type: 'api_key', api_key: API_KEYS.alice } },
        { user: 'bob', integration: 'openai', expected: { integration: 'openai', type: 'api_key', api_key: API_KEYS.bob } },
        { user: 'carol', integration: 'calendar', expected: oauthBody },
      ];
      const outcomes: Array<{ jti: string; expected: unknown; answer: Answer }> = [];
      let stop = false;
      const worker = async (w: number) => {
        for (let i = w; !stop; i++) {
          const job = jobs[i % jobs.length];
          const jti = randomUUID();
          outcomes.push({ jti, expected: job.expected, answer: await release(job.user, job.integration, jti) });
        }
      };
      const workers = Array.from({ length: 6 }, (_, w) => worker(w));
      let resets = 0;
      const served = () => outcomes.filter((o) => o.answer.status === 200).length;
      for (let k = 0; k < 12; k++) {
        // Between resets, the vault serves again (whatever the machine's load), then the next reset
        // comes after an uneven gap, so resets land at different points of a request.
        const before = served();
        for (let i = 0; i < 3000 && served() === before; i++) await sleep(10);
        await sleep((k * 37) % 90);
        resets += proxy.resetAll();
      }
      stop = true;
      await Promise.all(workers);

      expect(resets).toBeGreaterThan(0);
      const ok = outcomes.filter((o) => o.answer.status === 200);
      const unavailable = outcomes.filter((o) => o.answer.status === 503);
      // Only these two answers, never a 500, and never a partial body.
      expect(
        outcomes.filter((o) => o.answer.status !== 200 && o.answer.status !== 503).map((o) => `${o.answer.status} ${o.answer.text}`),
      ).toEqual([]);
      for (const o of ok) expect(o.answer.body).toEqual(o.expected);
      for (const o of unavailable) expectUnavailable(o.answer);
      expect(ok.length).toBeGreaterThan(0);
      expect(unavailable.length).toBeGreaterThan(0); // the faults did land mid-request

      // No release without a durable audit record. An `allowed` record without its release can only be a
      // request that was answered 503 while its audit commit's acknowledgement was lost (counted, below).
      const audited = new Set(await allowedReleaseJtis());
      for (const o of ok) expect(audited.has(o.jti)).toBe(true);
      const answered503 = new Set(unavailable.map((o) => o.jti));
      const ours = new Set(outcomes.map((o) => o.jti));
      const strays = [...audited].filter((j) => ours.has(j) && !ok.some((o) => o.jti === j));
      for (const j of strays) expect(answered503.has(j)).toBe(true);
      expect(strays.length).toBeLessThanOrEqual(unavailable.length);
      console.info(
        `db-faults: ${outcomes.length} releases, ${ok.length} × 200, ${unavailable.length} × 503, ${resets} ` +
          `connections reset, ${strays.length} audited-but-503`,
      );
      await expectChainIntact();

      // The same process serves again: the pool replaced its broken connections.
      for (const job of jobs) {
        const r = await release(job.user, job.integration);
        expect(r.status).toBe(200);
        expect(r.body).toEqual(job.expected);
      }
    },
  );

  it('admin writes during a reset: 503 or success, never half-written', async () => {
    const keyring = v.vault.app.get(Keyring);
    const tenant = asTenantId(T);
    const open = async (table: string, row: { id: string; dek_wrapped: Buffer }, field: string, ct: Buffer) => {
      const bind: Record<string, string> = table === 'integrations' ? { name: 'calendar' } : { subject: 'dave', integration: 'openai' };
      return (await keyring.open({ tenant, table, id: row.id, bind }, row.dek_wrapped, field, ct)).toString('utf8');
    };
    // Each state is read in one statement, straight from Postgres (not through the proxy).
    const integrationState = async () => {
      const [row] = await v.db.ds.query(
        `SELECT id, dek_wrapped, client_secret_ct, config->>'display_name' AS name FROM ` +
          `vault.integrations WHERE tenant = $1 AND name = 'calendar'`,
        [T],
      );
      return { name: row.name as string, secret: await open('integrations', row, 'client_secret', row.client_secret_ct) };
    };
    const connectionState = async () => {
      const [row] = await v.db.ds.query(
        `SELECT id, dek_wrapped, api_key_ct, version FROM vault.connections WHERE tenant ` +
          `= $1 AND integration = 'openai' AND subject = 'dave'`,
        [T],
      );
      return { version: Number(row.version), key: await open('connections', row, 'api_key', row.api_key_ct) };
    };
    const calendarBody = (n: number) => ({
      provider: 'custom-oauth2',
      display_name: `Calendar round ${n}`,
      client_id: provider.clientId,
      client_secret: `cs-round-${n}`,
      authorize_url: `${provider.url}/auth`,
      token_url: `${provider.url}/token`,
      scopes: ['openid', 'email', 'calendar.read'],
      return_urls: ['https://app.test.example/settings/'],
      provider_options: { issuer: provider.issuer, require_iss: true, identity: { source: 'id_token', subject: 'sub', email: 'email' } },
    });
    expect((await send('PUT', '/v1/admin/integrations/calendar', admin(), calendarBody(0))).status).toBe(200);
    expect((await send('PUT', '/v1/admin/connections/openai/users/dave', admin(), { api_key: 'dave-0' })).status).toBe(201);

    const tally = { ok: 0, unavailable: 0, storedDespite503: 0 };
    for (let round = 1; round <= 16; round++) {
      const before = { integration: await integrationState(), connection: await connectionState() };
      const writes = Promise.all([
        send('PUT', '/v1/admin/integrations/calendar', admin(), calendarBody(round)),
        send('PUT', '/v1/admin/connections/openai/users/dave', admin(), { api_key: `dave-${round}` }),
      ]);
      await sleep((round * 7) % 25);
      proxy.resetAll();
      const [ri, rc] = await writes;
      // A statement the server had already received runs to its end even though its client is gone
      // (and may commit): wait for those before reading what was stored.
      await vaultBackendsIdle();
      for (const a of [ri, rc]) {
        if (a.status === 503) expectUnavailable(a);
        else expect(a.status).toBe(200);
      }

      // Each write is all or nothing: the integration's name and sealed secret move together,
      // the connection's version and released key move together.
      const after = { integration: await integrationState(), connection: await connectionState() };
      const newIntegration = { name: `Calendar round ${round}`, secret: `cs-round-${round}` };
      if (ri.status === 200) expect(after.integration).toEqual(newIntegration);
      else expect([before.integration, newIntegration]).toContainEqual(after.integration);
      const newConnection = { version: before.connection.version + 1, key: `dave-${round}` };
      if (rc.status === 200) expect(after.connection).toEqual(newConnection);
      else expect([before.connection, newConnection]).toContainEqual(after.connection);

      for (const [a, changed] of [
        [ri, after.integration.name !== before.integration.name],
        [rc, after.connection.version !== before.connection.version],
      ] as const) {
        if (a.status === 200) tally.ok += 1;
        else {
          tally.unavailable += 1;
          if (changed) tally.storedDespite503 += 1;
        }
      }
    }
    console.info(`db-faults admin writes: ${JSON.stringify(tally)}`);
    // The provider's real client secret back, for the refresh below.
    expect(
      (await send('PUT', '/v1/admin/integrations/calendar', admin(), { ...calendarBody(0), client_secret: provider.clientSecret })).status,
    ).toBe(200);
    expect(tally.ok).toBeGreaterThan(0);
    expect(tally.unavailable).toBeGreaterThan(0);
  });

  it('database hung (no answer at all): the release answers 503 within its timeouts, releases nothing, and recovers', async () => {
    // Warm first: the release then starts on pooled connections that simply stop answering
    // (query_timeout), not only on new ones that cannot connect (connectionTimeoutMillis).
    expect((await release('alice', 'openai')).status).toBe(200);
    const jti = randomUUID();
    proxy.pause();
    let answer: Answer;
    try {
      answer = await release('alice', 'openai', jti);
    } finally {
      proxy.resume();
    }
    expectUnavailable(answer);
    expect(answer.text).not.toContain(API_KEYS.alice);
    // Give an abandoned audit flush every chance to land, then check nothing was recorded as released.
    const r = await release('alice', 'openai');
    expect(r.status).toBe(200);
    expect(await allowedReleaseJtis()).not.toContain(jti);
    await expectChainIntact();
  });

  it("/readyz is 503 while the database hangs, without waiting out the pool's query timeout", async () => {
    expect((await v.call('GET', '/readyz')).status).toBe(200);
    proxy.pause();
    try {
      // The pool's query timeout is 12 s; a probe that has not answered in 8 s counts as hung.
      // The bound's timer is cleared once the probe answers: left running, it kept Jest alive 8 s past the run.
      const bound = new AbortController();
      const noAnswer = setTimeoutP(8000, 'no answer' as const, { signal: bound.signal }).catch(() => 'cancelled' as const);
      const down = await Promise.race([v.call('GET', '/readyz'), noAnswer]).finally(() => bound.abort());
      expect(down).toMatchObject({ status: 503, body: { code: 'unavailable', checks: { database: 'unavailable', key_provider: 'ok' } } });
    } finally {
      proxy.resume();
    }
    let again = 0;
    for (let i = 0; i < 40 && again !== 200; i++, await sleep(250)) again = (await v.call('GET', '/readyz')).status;
    expect(again).toBe(200);
  });

  it('/readyz is 503 while the database is unreachable and 200 again after, without a restart', async () => {
    expect((await v.call('GET', '/readyz')).status).toBe(200);
    proxy.refuseNew(true);
    proxy.resetAll();
    try {
      const down = await v.call('GET', '/readyz');
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ code: 'unavailable', checks: { database: 'unavailable', key_provider: 'ok' } });
      const r = await release('alice', 'openai');
      expectUnavailable(r);
    } finally {
      proxy.refuseNew(false);
    }
    expect((await v.call('GET', '/readyz')).status).toBe(200);
    expect((await release('alice', 'openai')).status).toBe(200);
  });
  it(
    'SECURITY 39: the audit chain head locked by another transaction (audit hangs): 503 within the audit timeout, ' + 'nothing released',
    async () => {
      const jti = randomUUID();
      const locker = new Client({ connectionString: v.db.url });
      await locker.connect();
      let answer: Answer;
      try {
        await locker.query('BEGIN');
        await locker.query('SELECT seq FROM vault.audit_chain_head WHERE id = 1 FOR UPDATE');
        answer = await release('alice', 'openai', jti);
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
      expectUnavailable(answer);
      expect(answer.text).not.toContain(API_KEYS.alice);
      expect((await release('alice', 'openai')).status).toBe(200);
      expect(await allowedReleaseJtis()).not.toContain(jti);
      await expectChainIntact();
    },
  );

  it('SECURITY 39: the audit insert failing: 503, nothing released, and releases resume once it works', async () => {
    const jti = randomUUID();
    await v.db.ds.query(
      `CREATE FUNCTION vault.refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`,
    );
    await v.db.ds.query(
      'CREATE TRIGGER refuse_audit BEFORE INSERT ON vault.audit_events FOR EACH ROW EXECUTE FUNCTION vault.refuse_audit()',
    );
    let answer: Answer;
    try {
      answer = await release('bob', 'openai', jti);
    } finally {
      await v.db.ds.query('DROP TRIGGER refuse_audit ON vault.audit_events');
      await v.db.ds.query('DROP FUNCTION vault.refuse_audit()');
    }
    expectUnavailable(answer);
    expect(answer.text).not.toContain(API_KEYS.bob);
    expect((await release('bob', 'openai')).status).toBe(200);
    expect(await allowedReleaseJtis()).not.toContain(jti);
    await expectChainIntact();
  });

  it(
    'SECURITY 33 on the release path: a due OAuth connection with the database unreachable → 503 and no call to the ' +
      'provider; refreshed once it is back',
    async () => {
      await v.db.ds.query(
        `UPDATE vault.connections SET expires_at = now() - interval '1 minute' WHERE tenant = $1 AND ` +
          `integration = 'calendar' AND subject = 'carol'`,
        [T],
      );
      const before = await provider.stats();
      proxy.refuseNew(true);
      proxy.resetAll();
      let answer: Answer;
      try {
        answer = await release('carol', 'calendar');
      } finally {
        proxy.refuseNew(false);
      }
      expectUnavailable(answer);
      expect((await provider.stats()).tokenRequests).toBe(before.tokenRequests);

      const r = await release('carol', 'calendar');
      expect(r.status).toBe(200);
      expect(r.body.access_token).not.toBe(oauthBody.access_token);
      expect((await provider.stats()).token.refresh_token).toBe(before.token.refresh_token + 1);
    },
  );
});

describe('the pool client (libs/db DeadlineClient)', () => {
  it('drops a connection whose query got no answer in time, so the pool never hands it out again', async () => {
    const proxy = await TcpProxy.start(process.env.TEST_DATABASE_URL!);
    const pool = new Pool({
      connectionString: proxy.rewrite(process.env.TEST_DATABASE_URL!),
      max: 1,
      query_timeout: 300,
      Client: DeadlineClient,
    });
    pool.on('error', () => undefined);
    const pid = async () => (await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    try {
      const first = await pid();
      // Promise style, on a checked-out client.
      proxy.pause();
      const client = await pool.connect();
      await expect(client.query('SELECT 1')).rejects.toThrow('Query read timeout');
      client.release();
      proxy.resume();
      const second = await pid();
      expect(second).not.toBe(first);
      // Callback style, as pool.query uses it.
      proxy.pause();
      await expect(pool.query('SELECT 1')).rejects.toThrow('Query read timeout');
      proxy.resume();
      expect(await pid()).not.toBe(second);
    } finally {
      proxy.resume();
      await pool.end();
      await proxy.close();
    }
  });
});
