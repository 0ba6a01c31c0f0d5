/**
 * AAD re-seal benchmark (issue 14): `npm run bench:reseal`. See bench/README.md "Re-seal".
 *
 * Real parts, each in its own process: the vault API and the worker (spawned from the TypeScript
 * sources), Postgres, the Key Vault emulator (HTTPS, through the real SDK), and this process, which
 * seeds the data and generates the release load. BENCH_ROWS connections of one tenant are seeded
 * the way the vault wrote them before issue 14 (AAD scheme 1, not bound to subject/integration),
 * the tenant on the old scheme as the migration leaves an existing tenant. The worker's scheduler
 * then starts the `aad_reseal` job on its own; measured: rows/s of the job, and the release path's
 * p50/p99 (and errors) while it runs against the same load before it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AzureKeyProvider, context, fieldAad, framed, Keyring, seal } from '../libs/crypto';
import { createDataSource } from '../libs/db';
import { asTenantId } from '../libs/kernel';
import { TestIssuer } from '../test/support/issuer';
import {
  benchDatabase,
  fmt,
  freePort,
  keyVaultEmulator,
  loadFor,
  LoadStats,
  log,
  machine,
  round,
  secs,
  sleep,
  Spawned,
  startTs,
  until,
} from './support/harness';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const LOAD_CONCURRENCY = Number(process.env.BENCH_LOAD_CONCURRENCY ?? 4);
const BASELINE_MS = Number(process.env.BENCH_BASELINE_MS ?? 10_000);
const T = 'bench';
type Ds = ReturnType<typeof createDataSource>;

async function main(): Promise<void> {
  const started = Date.now();
  const db = await benchDatabase();
  const kv = await keyVaultEmulator();
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
    DATABASE_URL: db.url,
    VAULT_DATA_DIR: mkdtempSync(join(tmpdir(), 'vault-bench-')),
    TRUSTED_ISSUERS: JSON.stringify([issuer.config({ tenant_claim: 'tid' })]),
    KEY_PROVIDER: 'azure',
    AZURE_KEYVAULT_URL: kv.url,
    AZURE_KEYVAULT_KEY_NAME: 'kek',
    AZURE_KEYVAULT_CA_FILE: kv.caFile,
    AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
    AZURE_KEYVAULT_CREDENTIAL: `static:${kv.token}`,
    KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
    RATE_LIMIT_RELEASE_PER_IP: '1000000',
    RATE_LIMIT_RELEASE_PER_AGENT: '1000000',
    ...pick(process.env, ['KEY_ROTATION_BATCH_SIZE', 'KEY_ROTATION_PARALLELISM']),
  };
  const children: Spawned[] = [];
  const results: Record<string, unknown> = {};
  const ds = createDataSource({ url: db.url, schema: 'vault', poolSize: 4 });
  try {
    const vault = startTs('apps/vault/main.ts', env, 'vault');
    children.push(vault);
    await until(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 60_000);
    await ds.initialize();
    // A tenant from before the upgrade: the migration leaves it on scheme 1.
    await ds.query(`INSERT INTO tenants (id, aad_scheme) VALUES ($1, 1)`, [T]);
    const admin = issuer.sign({ sub: 'bench-admin', tid: T, scope: 'vault:admin vault:operator' }, { ttl: 7200 });
    await api(base, admin, 'PUT', '/v1/admin/integrations/openai', { provider: 'api_key' });
    await api(base, admin, 'PUT', '/v1/admin/agents/mcp-1', { name: 'bench agent' });
    await api(base, admin, 'PUT', '/v1/admin/policies/p', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' });

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
    const t0 = Date.now();
    await seedOldScheme(ds, keyring);
    results.seed_rows = { rows: ROWS, seconds: secs(Date.now() - t0) };
    log(`seeded ${ROWS} scheme-1 connections in ${secs(Date.now() - t0)} s`);
    await ds.query('VACUUM (ANALYZE) connections');
    for (const i of [0, Math.floor(ROWS / 2), ROWS - 1]) {
      const r = await release(base, issuer.agentToken({ tenant: T, user: `u${i}`, agent: 'mcp-1', integrations: ['openai'] }));
      if (r.body?.api_key !== `sk-bench-${i}`) throw new Error(`seeded row u${i} does not decrypt through the vault`);
    }
    const tokens = Array.from({ length: 500 }, () =>
      issuer.sign(
        { sub: `u${Math.floor(Math.random() * ROWS)}`, tid: T, act: { sub: 'mcp-1' }, scope: 'connections:openai' },
        { ttl: 7200 },
      ),
    );
    const send = () => release(base, tokens[Math.floor(Math.random() * tokens.length)]).then((r) => r.status);

    results.release_baseline = await loadFor(LOAD_CONCURRENCY, send, () => sleep(BASELINE_MS));
    log(`baseline release: ${fmt(results.release_baseline as LoadStats)}`);

    // The worker's scheduler starts the re-seal on its first tick, as after a real upgrade.
    children.push(startTs('apps/worker/main.ts', env, 'worker'));
    let jobId = '';
    const during = await loadFor(LOAD_CONCURRENCY, send, async () => {
      await until(
        async () => Boolean((jobId = (await ds.query(`SELECT id FROM key_jobs WHERE kind = 'aad_reseal'`))[0]?.id ?? '')),
        60_000,
      );
      await until(async () => ['succeeded', 'failed'].includes((await jobRow(ds, jobId)).status), 3_600_000, 500);
    });
    const job = await jobRow(ds, jobId);
    const seconds = (job.finished_at.getTime() - job.started_at.getTime()) / 1000;
    const [{ left }] = await ds.query(
      `SELECT count(*)::int AS left FROM connections WHERE substring(api_key_ct from 1 for 1) = '\\x01'::bytea`,
    );
    const [{ aad_scheme }] = await ds.query(`SELECT aad_scheme FROM tenants WHERE id = $1`, [T]);
    results.reseal = {
      status: job.status,
      records: Number(job.done),
      seconds: round(seconds),
      rows_per_second: Math.round(Number(job.done) / seconds),
      left_on_old_scheme: left,
      tenant_aad_scheme: aad_scheme,
    };
    results.release_during_reseal = during;
    log(`re-seal: ${job.done} records in ${round(seconds)} s = ${Math.round(Number(job.done) / seconds)} rows/s; release ${fmt(during)}`);
    for (const i of [0, Math.floor(ROWS / 2), ROWS - 1]) {
      const r = await release(base, issuer.agentToken({ tenant: T, user: `u${i}`, agent: 'mcp-1', integrations: ['openai'] }));
      if (r.body?.api_key !== `sk-bench-${i}`) throw new Error(`re-sealed row u${i} does not decrypt through the vault`);
    }
  } finally {
    for (const c of children) c.stop();
    await sleep(1000);
    if (ds.isInitialized) await ds.destroy();
    await kv.stop();
    await db.drop();
    await db.stopEmbedded();
  }
  results.machine = machine();
  results.total_seconds = secs(Date.now() - started);
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

/** ROWS connections sealed as before issue 14: each its own DEK under the tenant key; fields under AAD scheme 1. */
async function seedOldScheme(ds: Ds, keyring: Keyring): Promise<void> {
  const { version, key: tk } = await keyring.activeTenantKey(asTenantId(T));
  const header = Buffer.alloc(5);
  header[0] = 0x01; // Keyring's DEK format byte, then the TK version
  header.writeUInt32BE(version, 1);
  const BATCH = 5000;
  for (let i = 0; i < ROWS; i += BATCH) {
    const ids: string[] = [];
    const subjects: string[] = [];
    const deks: Buffer[] = [];
    const cts: Buffer[] = [];
    for (let j = i; j < Math.min(ROWS, i + BATCH); j++) {
      const id = randomUUID();
      const dek = randomBytes(32);
      const ref = { tenant: asTenantId(T), table: 'connections', id, bind: { subject: `u${j}`, integration: 'openai' } };
      ids.push(id);
      subjects.push(`u${j}`);
      cts.push(framed(seal(dek, Buffer.from(`sk-bench-${j}`), fieldAad(ref, 'api_key', 1)), 1));
      deks.push(Buffer.concat([header, seal(tk, dek, context('dek', T, 'connections', id, version))]));
      dek.fill(0);
    }
    await ds.query(
      `INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped, api_key_ct)
       SELECT u.id, $1, 'openai', u.s, 'api_key', $2, u.d, u.c
         FROM unnest($3::uuid[], $4::text[], $5::bytea[], $6::bytea[]) AS u(id, s, d, c)`,
      [T, version, ids, subjects, deks, cts],
    );
  }
  tk.fill(0);
}

async function release(base: string, token: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}/v1/connections/openai/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json().catch(() => undefined) };
}

async function api(base: string, token: string, method: string, path: string, body: unknown): Promise<any> {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function jobRow(ds: Ds, id: string) {
  return (await ds.query(`SELECT status, done, total, started_at, finished_at FROM key_jobs WHERE id = $1`, [id]))[0];
}

function pick(e: NodeJS.ProcessEnv, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => e[k] !== undefined).map((k) => [k, e[k]!]));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
