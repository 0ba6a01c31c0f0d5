/**
 * Key-rotation benchmark (issue 5): `npm run bench:keys`. See bench/README.md.
 *
 * Real parts, each in its own process: the vault API and the worker (spawned from the
 * TypeScript sources), Postgres, the Key Vault emulator (HTTPS, reached through the real SDK),
 * and this process, which seeds the data and generates the release load. Measures:
 *   1. tenant-key rotation of BENCH_ROWS DEKs (rows/s), and release p50/p99 while it runs;
 *   2. KEK rotation of BENCH_TENANTS tenant keys at BENCH_KV_RPS (Key Vault calls, seconds),
 *      and release p50/p99 while it runs.
 */
import { ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, Socket } from 'node:net';
import { cpus, totalmem, tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { AzureKeyProvider, context, CURRENT_AAD_SCHEME, fieldAad, framed, Keyring, seal } from '../libs/crypto';
import { bind } from '../libs/crypto/keyring';
import { createDataSource, startEmbeddedPostgres } from '../libs/db';
import { asTenantId } from '../libs/kernel';
import { TestIssuer } from '../test/support/issuer';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10_000);
const KV_RPS = Number(process.env.BENCH_KV_RPS ?? 50);
const KV_CONCURRENCY = Number(process.env.BENCH_KV_CONCURRENCY ?? 8);
const LOAD_CONCURRENCY = Number(process.env.BENCH_LOAD_CONCURRENCY ?? 4);
const BASELINE_MS = 10_000;
const T = 'bench';
const ROOT = join(__dirname, '..');
const REGISTER = join(ROOT, 'test/support/register-ts.js');

interface LoadStats {
  requests: number;
  errors: number;
  /** Non-200 answers by status (0 = no answer). */
  error_statuses?: Record<string, number>;
  rps: number;
  p50: number;
  p99: number;
  max: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const { url: dbUrl, drop, stopEmbedded } = await benchDatabase();
  const kv = await emulatorProcess();
  const issuer = new TestIssuer('https://sts.bench.example', 'https://vault.bench.example');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    NO_COLOR: '1',
    PORT: String(port),
    HOST: '127.0.0.1',
    VAULT_PUBLIC_URL: 'https://vault.bench.example',
    DATABASE_URL: dbUrl,
    VAULT_DATA_DIR: mkdtempSync(join(tmpdir(), 'vault-bench-')),
    TRUSTED_ISSUERS: JSON.stringify([issuer.config({ tenant_claim: 'tid' })]),
    KEY_PROVIDER: 'azure',
    AZURE_KEYVAULT_URL: kv.url,
    AZURE_KEYVAULT_KEY_NAME: 'kek',
    AZURE_KEYVAULT_CA_FILE: kv.caFile,
    AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
    AZURE_KEYVAULT_CREDENTIAL: `static:${kv.token}`,
    KEY_ROTATION_KV_RPS: String(KV_RPS),
    KEY_ROTATION_KV_CONCURRENCY: String(KV_CONCURRENCY),
    KEY_ROTATION_RETIRE_DELAY_MS: '0',
    KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
    // The release limiter (SECURITY 29) would answer most of a closed-loop load with 429s: not what is measured here.
    RATE_LIMIT_RELEASE_PER_IP: '1000000',
    RATE_LIMIT_RELEASE_PER_AGENT: '1000000',
  };
  const children: ChildProcess[] = [];
  const results: Record<string, unknown> = {};
  try {
    const vault = start('apps/vault/main.ts', env);
    children.push(vault);
    await until(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 60_000);
    const admin = issuer.sign({ sub: 'bench-admin', tid: T, scope: 'vault:admin vault:operator' }, { ttl: 7200 });
    await api(base, admin, 'PUT', '/v1/admin/integrations/openai', { provider: 'api_key' });
    await api(base, admin, 'PUT', '/v1/admin/agents/mcp-1', { name: 'bench agent' });
    await api(base, admin, 'PUT', '/v1/admin/policies/p', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' });
    await api(base, admin, 'PUT', '/v1/admin/connections/openai/users/warm', { api_key: 'sk-warm' });

    // ---- seed ----
    const ds = createDataSource({ url: dbUrl, schema: 'vault', poolSize: 4 });
    await ds.initialize();
    const provider = new AzureKeyProvider({
      kind: 'azure',
      vaultUrl: kv.url,
      keyName: 'kek',
      caFile: kv.caFile,
      disableChallengeResourceVerification: true,
      credential: { kind: 'static', token: kv.token },
    });
    await provider.init();
    const keyring = new Keyring(ds, provider, {
      cacheSize: 10,
      cacheMaxAgeMs: 3600_000,
      writeHealthTtlMs: 60_000,
      maxEncryptionsPerKey: 2 ** 30,
    });
    let t0 = Date.now();
    await seedRows(ds, keyring);
    results.seed_rows = { rows: ROWS, seconds: secs(Date.now() - t0) };
    log(`seeded ${ROWS} connections in ${secs(Date.now() - t0)} s`);
    t0 = Date.now();
    await seedTenantKeys(ds, provider);
    results.seed_tenant_keys = { tenant_keys: TENANTS, seconds: secs(Date.now() - t0) };
    log(`seeded ${TENANTS} tenant keys in ${secs(Date.now() - t0)} s`);
    // Steady state: the vacuum autovacuum would start after a million inserts, done before measuring.
    t0 = Date.now();
    await ds.query('VACUUM (ANALYZE) connections');
    await ds.query('ANALYZE');
    log(`vacuumed in ${secs(Date.now() - t0)} s`);
    for (const i of [0, Math.floor(ROWS / 2), ROWS - 1]) {
      const r = await release(base, issuer.agentToken({ tenant: T, user: `u${i}`, agent: 'mcp-1', integrations: ['openai'] }));
      if (r.body?.api_key !== `sk-bench-${i}`) throw new Error(`seeded row u${i} does not decrypt through the vault`);
    }
    const tokens = Array.from({ length: 500 }, () => {
      const i = Math.floor(Math.random() * ROWS);
      return issuer.sign({ sub: `u${i}`, tid: T, act: { sub: 'mcp-1' }, scope: 'connections:openai' }, { ttl: 7200 });
    });

    // ---- baseline ----
    results.release_baseline = await loadFor(base, tokens, () => sleep(BASELINE_MS));
    log(`baseline release: ${fmt(results.release_baseline as LoadStats)}`);

    const worker = start('apps/worker/main.ts', env);
    children.push(worker);

    // ---- tenant-key rotation of ROWS DEKs ----
    const tkJob = (await api(base, admin, 'POST', '/v1/admin/keys/rotate', { target: 'tenant' })).job.id as string;
    const tkLoad = await loadFor(base, tokens, () => jobDone(ds, tkJob));
    const tk = await jobRow(ds, tkJob);
    const tkSeconds = (tk.finished_at.getTime() - tk.started_at.getTime()) / 1000;
    results.tenant_key_rotation = {
      status: tk.status,
      records: Number(tk.done),
      seconds: round(tkSeconds),
      rows_per_second: Math.round(Number(tk.done) / tkSeconds),
      batch_size: 500,
    };
    results.release_during_tenant_rotation = tkLoad;
    log(
      `tenant-key rotation: ${tk.done} DEKs in ${round(tkSeconds)} s = ${Math.round(Number(tk.done) / tkSeconds)} ` +
        `rows/s; release ${fmt(tkLoad)}`,
    );

    // ---- KEK rotation of TENANTS tenant keys ----
    await kv.call('rotate');
    await kv.call('reset');
    const kekJob = (await api(base, admin, 'POST', '/v1/admin/keys/rotate', { target: 'kek', new_version: false })).job.id as string;
    const kekLoad = await loadFor(base, tokens, () => jobDone(ds, kekJob));
    const kek = await jobRow(ds, kekJob);
    const kekSeconds = (kek.finished_at.getTime() - kek.started_at.getTime()) / 1000;
    const calls = (await kv.call('counts')) as Record<string, number>;
    results.kek_rotation = {
      status: kek.status,
      keys: Number(kek.done),
      seconds: round(kekSeconds),
      budget_rps: KV_RPS,
      concurrency: KV_CONCURRENCY,
      key_vault_calls: calls,
    };
    results.release_during_kek_rotation = kekLoad;
    log(
      `KEK rotation: ${kek.done} keys in ${round(kekSeconds)} s at ${KV_RPS} req/s; Key Vault calls ` +
        `${JSON.stringify(calls)}; release ${fmt(kekLoad)}`,
    );
    await ds.destroy();
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await sleep(1000);
    await kv.call('stop').catch(() => undefined);
    await drop();
    await stopEmbedded();
  }
  results.machine = { cpus: cpus().length, cpu: cpus()[0]?.model, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version };
  results.total_seconds = secs(Date.now() - started);
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

/** ROWS connections of tenant `bench`, each with its own DEK wrapped (with its own AAD) by the tenant key, as Keyring.seal writes them. */
async function seedRows(ds: ReturnType<typeof createDataSource>, keyring: Keyring): Promise<void> {
  const { version, key: tk } = await keyring.activeTenantKey(asTenantId(T));
  const header = Buffer.alloc(5);
  header[0] = 0x01; // Keyring's DEK format byte, then the TK version
  header.writeUInt32BE(version, 1);
  const BATCH = 5000;
  let inflight: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < ROWS; i += BATCH) {
    const n = Math.min(BATCH, ROWS - i);
    const ids: string[] = [];
    const subjects: string[] = [];
    const deks: Buffer[] = [];
    const cts: Buffer[] = [];
    for (let j = 0; j < n; j++) {
      const id = randomUUID();
      const dek = randomBytes(32);
      ids.push(id);
      subjects.push(`u${i + j}`);
      const ref = { tenant: asTenantId(T), table: 'connections', id, bind: { subject: `u${i + j}`, integration: 'openai' } };
      cts.push(framed(seal(dek, Buffer.from(`sk-bench-${i + j}`), fieldAad(ref, 'api_key', CURRENT_AAD_SCHEME)), CURRENT_AAD_SCHEME));
      deks.push(Buffer.concat([header, seal(tk, dek, context('dek', T, 'connections', id, version))]));
      dek.fill(0);
    }
    await inflight;
    inflight = ds.query(
      `INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped, api_key_ct)
       SELECT u.id, $1, 'openai', u.s, 'api_key', $2, u.d, u.c
         FROM unnest($3::uuid[], $4::text[], $5::bytea[], $6::bytea[]) AS u(id, s, d, c)`,
      [T, version, ids, subjects, deks, cts],
    );
    if ((i / BATCH) % 40 === 0) log(`  seeding rows: ${i}/${ROWS}`);
  }
  await inflight;
}

/** TENANTS tenants with one tenant key each, wrapped (locally, with the KEK's public key) as Keyring does. */
async function seedTenantKeys(ds: ReturnType<typeof createDataSource>, provider: AzureKeyProvider): Promise<void> {
  const BATCH = 1000;
  for (let i = 0; i < TENANTS; i += BATCH) {
    const names: string[] = [];
    const wrapped: Buffer[] = [];
    for (let j = i; j < Math.min(TENANTS, i + BATCH); j++) {
      const name = `tenant-${j}`;
      const tk = randomBytes(32);
      names.push(name);
      wrapped.push((await provider.wrap(bind(context('tk', name, 1), tk))).wrapped);
      tk.fill(0);
    }
    await ds.query(`INSERT INTO tenants (id) SELECT unnest($1::text[])`, [names]);
    await ds.query(
      `INSERT INTO tenant_keys (tenant, version, kek_key_id, wrapped, status) SELECT t, 1, $1, w, 'active' ` +
        `FROM unnest($2::text[], $3::bytea[]) AS u(t, w)`,
      [provider.currentKeyId(), names, wrapped],
    );
  }
}

/** Releases in a closed loop (LOAD_CONCURRENCY in flight) until `during` resolves. */
async function loadFor(base: string, tokens: string[], during: () => Promise<unknown>): Promise<LoadStats> {
  const latencies: number[] = [];
  let errors = 0;
  const statuses: Record<string, number> = {};
  let stop = false;
  const t0 = Date.now();
  const lane = async () => {
    while (!stop) {
      const token = tokens[Math.floor(Math.random() * tokens.length)];
      const s = performance.now();
      const r = await release(base, token).catch(() => ({ status: 0, body: undefined }));
      latencies.push(performance.now() - s);
      if (r.status !== 200) {
        errors++;
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }
    }
  };
  const lanes = Promise.all(Array.from({ length: LOAD_CONCURRENCY }, lane));
  await during();
  stop = true;
  await lanes;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0);
  return {
    requests: latencies.length,
    errors,
    ...(errors ? { error_statuses: statuses } : {}),
    rps: Math.round(latencies.length / ((Date.now() - t0) / 1000)),
    p50: q(0.5),
    p99: q(0.99),
    max: q(1),
  };
}

async function release(base: string, token: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}/v1/connections/openai/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json() };
}

async function api(base: string, token: string, method: string, path: string, body: unknown): Promise<any> {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await r.json();
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(json)}`);
  return json;
}

async function jobRow(ds: ReturnType<typeof createDataSource>, id: string) {
  return (await ds.query(`SELECT status, done, total, started_at, finished_at, error_class FROM key_jobs WHERE id = $1`, [id]))[0];
}

async function jobDone(ds: ReturnType<typeof createDataSource>, id: string): Promise<void> {
  let last = '';
  for (;;) {
    const j = await jobRow(ds, id);
    const line = `  job ${j.status} ${j.done}/${j.total}`;
    if (line !== last) log(line);
    last = line;
    if (j.status === 'succeeded') return;
    if (j.status === 'failed') throw new Error(`job failed: ${j.error_class}`);
    await sleep(2000);
  }
}

/** The emulator in its own process (bench/kv-emulator.process.ts), driven over IPC. */
async function emulatorProcess(): Promise<{ url: string; caFile: string; token: string; call(cmd: string): Promise<unknown> }> {
  const child = fork(join(__dirname, 'kv-emulator.process.ts'), [], {
    execArgv: ['-r', REGISTER],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, (v: unknown) => void>();
  let next = 1;
  child.on('message', (m: { id: number; result: unknown }) => waiting.get(m.id)?.(m.result));
  const info = (await new Promise<unknown>((resolve) => waiting.set(0, resolve))) as { url: string; caFile: string; token: string };
  return {
    ...info,
    call(cmd: string) {
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, resolve);
        if (!child.send({ id, cmd })) reject(new Error('emulator process gone'));
        if (cmd === 'stop') child.once('exit', () => resolve(undefined));
      });
    },
  };
}

function start(entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['-r', REGISTER, join(ROOT, entry)], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.once('exit', (code, signal) => code && log(`${entry} exited with ${code ?? signal}`));
  return child;
}

/** A fresh database on the machine's Postgres (BENCH_DATABASE_URL, or 127.0.0.1:5432), else an embedded one. */
async function benchDatabase(): Promise<{ url: string; drop(): Promise<void>; stopEmbedded(): Promise<void> }> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let embedded: { stop(): Promise<void> } | undefined;
  if (!adminUrl) {
    if (await reachable('127.0.0.1', 5432)) adminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
    else {
      const db = await startEmbeddedPostgres(mkdtempSync(join(tmpdir(), 'vault-bench-pg-')));
      embedded = db;
      adminUrl = db.url;
    }
  }
  const name = `vault_bench_${randomBytes(4).toString('hex')}`;
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const d = new Client({ connectionString: adminUrl });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
    stopEmbedded: async () => embedded?.stop(),
  };
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.connect(port, host);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(200);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => Math.round(ms / 100) / 10;
const round = (x: number) => Math.round(x * 10) / 10;
const fmt = (s: LoadStats) => `${s.rps} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms, errors ${s.errors}/${s.requests}`;
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

main().catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
