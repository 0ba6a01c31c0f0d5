import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startVault } from '../../apps/vault/bootstrap';
import { loadConfig } from '../../libs/config';
import { createTestDatabase } from '../support/database';
import { startTestVault } from '../support/vault';
import { JsonLines } from './support';

const ROOT = join(__dirname, '../..');

/**
 * What a new user sees at `npm start` (issue 20 item 5): the development issuer's vault is not
 * reachable from the network unless HOST says so; the start banner is not buried under route
 * mapping lines or a framework deprecation warning; a busy port fails first, and clearly.
 */
describe('start-up', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vault-startup-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('binds 127.0.0.1 while the development issuer is on, unless HOST is set', () => {
    const embedded = loadConfig({ VAULT_DATA_DIR: dataDir });
    expect(embedded.devIssuer).toBe(true);
    expect(embedded.host).toBe('127.0.0.1');
    expect(loadConfig({ VAULT_DATA_DIR: dataDir, HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    // A deployment with its own database and no development issuer listens on every interface.
    const deployed = loadConfig({ VAULT_DATA_DIR: dataDir, DATABASE_URL: 'postgres://db/vault' });
    expect(deployed.devIssuer).toBe(false);
    expect(deployed.host).toBe('0.0.0.0');
    expect(loadConfig({ VAULT_DATA_DIR: dataDir, DATABASE_URL: 'postgres://db/vault', VAULT_DEV_ISSUER: 'true' }).host).toBe('127.0.0.1');
  });

  it('logs route mapping (and module loading) at debug and raises no Fastify deprecation warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(`${w.code ?? w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const logs = new JsonLines();
    const v = await startTestVault({ LOG_LEVEL: 'debug' }, { logStream: logs });
    try {
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on a later tick
      const records = logs.records();
      const mapped = records.filter(
        (r) => /Mapped \{/.test(String(r.msg)) || ['RoutesResolver', 'RouterExplorer'].includes(String(r.context)),
      );
      expect(mapped.length).toBeGreaterThan(20);
      expect(mapped.filter((r) => r.level !== 'debug')).toEqual([]);
      const loaded = records.filter((r) => r.context === 'InstanceLoader');
      expect(loaded.length).toBeGreaterThan(10);
      expect(loaded.filter((r) => r.level !== 'debug')).toEqual([]);
      // What is left at info before the banner: Nest's start and started lines.
      const startInfo = records.filter((r) => r.level === 'info' && typeof r.context === 'string' && r.context.startsWith('Nest'));
      expect(startInfo.length).toBeLessThanOrEqual(3);
      expect(warnings.filter((w) => /FSTDEP|deprecat/i.test(w))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await v.close();
    }
  });

  it('a listen that fails after the lifecycle hooks ran (an address not ours) rejects, leaving no connection behind', async () => {
    // Port 0 skips the early port check: Nest's hooks run (the revocation feed LISTENs), then the bind
    // fails. The clean-up used to end the pool without stopping them: it waited for the LISTEN client forever.
    const db = await createTestDatabase({ migrate: false });
    const dbName = new URL(db.url).pathname.slice(1);
    const config = loadConfig({
      NODE_ENV: 'test',
      HOST: '192.0.2.1', // TEST-NET-1: never an address of this machine
      PORT: '0',
      DATABASE_URL: db.url,
      VAULT_DATA_DIR: dataDir,
      VAULT_PUBLIC_URL: 'https://vault.test.example',
      VAULT_DEV_ISSUER: 'false',
    });
    const bound = new AbortController(); // cleared after: a timer left running keeps Jest alive past the run
    try {
      const outcome = await Promise.race([
        startVault(config, { logger: false }).then(
          (v) => v.close().then(() => 'started'),
          (err: Error) => err.message,
        ),
        sleep(20_000, 'still starting', { signal: bound.signal }).catch(() => 'cancelled'),
      ]);
      expect(outcome).toMatch(/EADDRNOTAVAIL/);
      const ours = () =>
        db.ds.query(`SELECT query FROM pg_stat_activity WHERE datname = $1 AND application_name = 'credential-vault-api'`, [dbName]);
      // A backend whose client has just ended still shows for a moment while it exits.
      for (let i = 0; i < 50 && (await ours()).length > 0; i++) await sleep(50);
      expect(await ours()).toEqual([]);
    } finally {
      bound.abort();
      await db.drop();
    }
  });

  it('fails first and clearly on a busy port: no "successfully started" before the error', async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    const db = await createTestDatabase({ migrate: false });
    const logs = new JsonLines();
    try {
      const config = loadConfig({
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: db.url,
        VAULT_DATA_DIR: dataDir,
        VAULT_PUBLIC_URL: 'https://vault.test.example',
        VAULT_DEV_ISSUER: 'false',
      });
      await expect(startVault(config, { logStream: logs })).rejects.toThrow(`cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
      expect(logs.lines.filter((l) => /successfully started/i.test(l))).toEqual([]);
    } finally {
      await new Promise((r) => busy.close(r));
      await db.drop();
    }
  });

  it(
    'npm start on the embedded default: a busy 127.0.0.1 port stops the process before PostgreSQL ' + 'starts, with one clear line',
    async () => {
      const busy: Server = createServer();
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
      const port = (busy.address() as { port: number }).port;
      const data = mkdtempSync(join(tmpdir(), 'vault-busy-'));
      try {
        // No HOST, no DATABASE_URL: the development issuer is on, so the vault binds 127.0.0.1, where the port is taken.
        const proc = spawn(process.execPath, ['-r', join(ROOT, 'test/support/register-ts.js'), join(ROOT, 'apps/vault/main.ts')], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', PORT: String(port), VAULT_DATA_DIR: data, LOG_LEVEL: 'info' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
        expect({ code, stderr: stderr.trim() }).toEqual({
          code: 1,
          stderr: expect.stringContaining(`cannot listen on 127.0.0.1:${port} (EADDRINUSE)`),
        });
        expect(stdout).not.toMatch(/successfully started|listening on/i);
        // Nothing was started or written: no embedded cluster, no key files.
        expect(readdirSync(data)).toEqual([]);
      } finally {
        await new Promise((r) => busy.close(r));
        rmSync(data, { recursive: true, force: true });
      }
    },
  );
});
