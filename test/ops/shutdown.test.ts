import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AuditLog } from '../../libs/audit';
import { createTestDatabase } from '../support/database';
import { TestIssuer } from '../support/issuer';
import { startTestVault, TestVault } from '../support/vault';

const ROOT = join(__dirname, '..', '..');

/**
 * Graceful shutdown (what SIGTERM runs): with releases in flight — their audit batch held up
 * behind a lock on the chain head — closing the vault stops accepting new requests, lets every
 * in-flight release finish and commit its audit record, drains the audit log, then closes the
 * pool. Every 200 has its audit row; no audit event is lost.
 */
describe('graceful shutdown', () => {
  let v: TestVault;
  const T = 'acme';
  const N = 20;

  beforeAll(async () => {
    v = await startTestVault({ VAULT_AUDIT_TIMEOUT_MS: '10000' });
    const a = v.issuer.adminToken(T);
    for (const [path, body] of [
      ['/v1/admin/integrations/openai', { provider: 'api_key' }],
      ['/v1/admin/agents/mcp-1', { name: 'agent' }],
      ['/v1/admin/policies/p1', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' }],
      ['/v1/admin/connections/openai/users/alice', { api_key: 'sk-shutdown' }],
    ] as const) {
      expect((await v.call('PUT', path, { token: a, body })).status).toBe(201);
    }
    // A first release: the audit chain has its head row (what the test locks) and every cache is warm.
    expect(
      (
        await v.call('POST', '/v1/connections/openai/token', {
          token: v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'] }),
        })
      ).status,
    ).toBe(200);
  });
  afterAll(async () => {
    await v?.db.drop();
  });

  it('in-flight releases finish with their audit records; new requests are refused; the pool is closed', async () => {
    const audit = v.vault.app.get(AuditLog);
    const appDataSource = v.vault.app.get(DataSource);
    const url = v.url;

    // Hold the audit chain's head row: every audit flush (and so every release) waits behind it.
    const blocker = new Client({ connectionString: v.db.url });
    await blocker.connect();
    blocker.on('error', () => undefined);
    await blocker.query('BEGIN');
    expect((await blocker.query('SELECT 1 FROM vault.audit_chain_head WHERE id = 1 FOR UPDATE')).rowCount).toBe(1);

    const jtis = Array.from({ length: N }, (_, i) => `shutdown-${i}`);
    const inFlight = jtis.map((jti) =>
      fetch(`${url}/v1/connections/openai/token`, {
        method: 'POST',
        headers: {
          authorization:
            `Bearer ` + `${v.issuer.agentToken({ tenant: T, user: 'alice', agent: 'mcp-1', integrations: ['openai'], claims: { jti } })}`,
        },
      }).then(async (r) => ({ jti, status: r.status, body: (await r.json()) as { api_key?: string } })),
    );
    // Every release has reached the audit log: queued behind the flush that waits for the lock (it takes its batch once it holds it).
    const deadline = Date.now() + 10_000;
    const waitingOnLock = async () =>
      Number(
        (
          await v.db.ds.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        )[0].n,
      );
    while ((await waitingOnLock()) < 1 || audit.stats().queued < N) {
      if (Date.now() > deadline) throw new Error(`releases did not all reach the audit log (queued ${audit.stats().queued})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const rowsBefore = Number(
      (await v.db.ds.query(`SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'credential.release'`))[0].n,
    );

    let closing: Promise<void> | undefined;
    try {
      closing = v.vault.close();
      await new Promise((r) => setTimeout(r, 200));
      // Closing: no new request is served (the listener is gone, or the server answers 503 while closing).
      const late = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
        (r) => r.status,
        (e: Error) => (e.name === 'TimeoutError' ? 'hung' : 'refused'),
      );
      expect(['refused', 503]).toContain(late);
    } finally {
      await blocker.query('COMMIT');
      await blocker.end();
    }
    await closing;

    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual(jtis.map(() => 200));
    for (const r of results) expect(r.body.api_key).toBe('sk-shutdown');

    const rows: Array<{ jti: string }> = await v.db.ds.query(
      `SELECT details->>'jti' AS jti FROM vault.audit_events WHERE action = 'credential.release' AND outcome = 'allowed' ` +
        `AND details->>'jti' LIKE 'shutdown-%'`,
    );
    expect(rows.map((r) => r.jti).sort()).toEqual([...jtis].sort());
    const rowsAfter = Number(
      (await v.db.ds.query(`SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'credential.release'`))[0].n,
    );
    expect(rowsAfter - rowsBefore).toBe(N);
    expect(audit.stats()).toMatchObject({ queued: 0, failedFlushes: 0, timeouts: 0 });
    expect(appDataSource.isInitialized).toBe(false);
  });
});

describe('SIGTERM on the real process (apps/vault/main.ts)', () => {
  it('answers the releases in flight, audits each, writes JSON logs to stdout, and exits 0', async () => {
    const db = await createTestDatabase({ migrate: false });
    const issuer = new TestIssuer();
    const port = 20000 + Math.floor(Math.random() * 20000);
    const proc = spawn(process.execPath, ['-r', join(ROOT, 'test/support/register-ts.js'), join(ROOT, 'apps/vault/main.ts')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        PORT: String(port),
        HOST: '127.0.0.1',
        VAULT_PUBLIC_URL: 'https://vault.test.example',
        DATABASE_URL: db.url,
        VAULT_DATA_DIR: mkdtempSync(join(tmpdir(), 'vault-sigterm-')),
        VAULT_DEV_ISSUER: 'false',
        TRUSTED_ISSUERS: JSON.stringify([issuer.config({ tenant_claim: 'tid' })]),
        VAULT_AUDIT_TIMEOUT_MS: '10000',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const blocker = new Client({ connectionString: db.url });
    blocker.on('error', () => undefined);
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 20_000;
      while (
        (await fetch(`${url}/readyz`).then(
          (r) => r.status,
          () => 0,
        )) !== 200
      ) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`the vault did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const call = (method: string, path: string, token: string, body?: unknown) =>
        fetch(url + path, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
      const admin = issuer.adminToken('acme');
      for (const [path, body] of [
        ['/v1/admin/integrations/openai', { provider: 'api_key' }],
        ['/v1/admin/agents/mcp-1', { name: 'agent' }],
        ['/v1/admin/policies/p1', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' }],
        ['/v1/admin/connections/openai/users/alice', { api_key: 'sk-sigterm' }],
      ] as const) {
        expect((await call('PUT', path, admin, body)).status).toBe(201);
      }
      const agent = (jti: string) =>
        issuer.agentToken({ tenant: 'acme', user: 'alice', agent: 'mcp-1', integrations: ['openai'], claims: { jti } });
      expect((await call('POST', '/v1/connections/openai/token', agent('warm-up'))).status).toBe(200);

      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM vault.audit_chain_head WHERE id = 1 FOR UPDATE');
      const jtis = Array.from({ length: 10 }, (_, i) => `sigterm-${i}`);
      const inFlight = jtis.map((jti) =>
        call('POST', '/v1/connections/openai/token', agent(jti)).then(
          (r) => r.status,
          () => 0,
        ),
      );
      // The audit flush is waiting on the lock, with releases queued behind it.
      while (
        Number(
          (
            await db.ds.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          )[0].n,
        ) < 1
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 200));
      proc.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      expect(proc.exitCode).toBeNull(); // still draining
      await blocker.query('COMMIT');

      expect(await exited).toBe(0);
      expect(await Promise.all(inFlight)).toEqual(jtis.map(() => 200));
      const rows: Array<{ jti: string }> = await db.ds.query(
        `SELECT details->>'jti' AS jti FROM vault.audit_events ` +
          `WHERE action = 'credential.release' AND outcome = 'allowed' AND details->>'jti' LIKE 'sigterm-%'`,
      );
      expect(rows.map((r) => r.jti).sort()).toEqual([...jtis].sort());
      // After the banner, stdout is JSON lines: the request lines of the releases among them.
      const json = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(json.filter((r) => r.route === '/v1/connections/:integration/token' && r.status === 200).length).toBe(jtis.length + 1);
      // Only Node's deprecation warnings (Fastify's FSTDEP022, from Nest's adapter) on stderr.
      expect(stderr.split('\n').filter((l) => l.trim() && !/Warning|--trace-warnings/.test(l))).toEqual([]);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await blocker.end().catch(() => undefined);
      await db.drop();
    }
  }, 45_000);
});
