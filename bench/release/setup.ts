/**
 * Brings up the two servers of the release benchmark on their own databases with the same data
 * shape: the vault (compiled, real Key Vault emulator over HTTPS, real Postgres, audit on) and
 * the floor (bench/floor/server.ts).
 */
import { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { AzureKeyProvider, Keyring } from '../../libs/crypto';
import { createDataSource, runMigrations } from '../../libs/db';
import { asTenantId } from '../../libs/kernel';
import { TestIssuer } from '../../test/support/issuer';
import { Emulator, freePort, spawnJs, waitFor200 } from './processes';
import { schemaClient, TenantKey } from './seed';

/** Connections per server process, the vault's and the floor's alike (the vault's default is 20). */
const BENCH_POOL_SIZE = process.env.BENCH_POOL_SIZE ?? '20';

export const TENANT = 'bench';
export const AGENT = 'mcp-1';
export const INTEGRATIONS = ['openai', 'anthropic'];
export const AUDIENCE = 'https://vault.bench.example';

export interface Server {
  base: string;
  proc: ChildProcess;
  /** With `BENCH_ALLOC=1`, the vault's stdout (request logs and `--trace-gc-nvp` lines) for `allocMeter`. */
  stdoutFile?: string;
  /**
   * A new process on the same database and port (cold start); `env` adds to or overrides its
   * environment; `heapFlags: false` starts the vault without the Docker image's heap flags.
   */
  restart(env?: Record<string, string>, heapFlags?: boolean): ChildProcess;
  /** One more process of the same server on the same database, on its own port, once ready. */
  replica(): Promise<Server>;
}

/** The Docker image's heap flags (keep in step with the Dockerfile): its `NODE_OPTIONS`, and the V8 flag its `CMD` adds for the API. */
export const PRODUCTION_NODE_OPTIONS = '--max-old-space-size=160';
export const PRODUCTION_NODE_ARGS = ['--heap-growing-percent=100'];

/** The vault's environment: production mode and logging, Key Vault through the emulator. */
export function vaultEnv(dbUrl: string, port: number, kv: Emulator, issuer: TestIssuer): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    NO_COLOR: '1',
    PORT: String(port),
    HOST: '127.0.0.1',
    VAULT_PUBLIC_URL: AUDIENCE,
    DATABASE_URL: dbUrl,
    VAULT_DATA_DIR: mkdtempSync(join(tmpdir(), 'vault-bench-')),
    TRUSTED_ISSUERS: JSON.stringify([issuer.config({ tenant_claim: 'tid' })]),
    KEY_PROVIDER: 'azure',
    AZURE_KEYVAULT_URL: kv.url,
    AZURE_KEYVAULT_KEY_NAME: 'kek',
    AZURE_KEYVAULT_CA_FILE: kv.caFile,
    AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
    AZURE_KEYVAULT_CREDENTIAL: `static:${kv.token}`,
    KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
    // The heap flags the Docker image sets (Dockerfile); BENCH_VAULT_ENV='{"NODE_OPTIONS":""}' and
    // BENCH_VAULT_NODE_ARGS='' measure without.
    NODE_OPTIONS: PRODUCTION_NODE_OPTIONS,
    // The release limiter (SECURITY 29) stays on, in its default 60 s window, but out of the way: a
    // closed-loop load from one IP and one agent would otherwise get 429s (the maximum, 1,000,000 per
    // window, is ~16,700 req/s).
    RATE_LIMIT_RELEASE_PER_IP: '1000000',
    RATE_LIMIT_RELEASE_PER_AGENT: '1000000',
    // Both servers' pools the same size (BENCH_POOL_SIZE): three processes of each at 20 would hold up to 120 of the
    // machine's 100 Postgres connections.
    VAULT_DB_POOL_SIZE: BENCH_POOL_SIZE,
    ...(process.env.BENCH_VAULT_ENV ? JSON.parse(process.env.BENCH_VAULT_ENV) : {}),
  };
}

export async function startVault(
  jsDir: string,
  dbUrl: string,
  kv: Emulator,
  issuer: TestIssuer,
): Promise<Server & { tenantKey(): Promise<TenantKey> }> {
  const port = await freePort();
  const env = vaultEnv(dbUrl, port, kv, issuer);
  const base = `http://127.0.0.1:${port}`;
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  // The Docker image's V8 flags for the API; BENCH_VAULT_NODE_ARGS replaces them (e.g. '' or '--trace-gc').
  const heapArgs =
    process.env.BENCH_VAULT_NODE_ARGS !== undefined ? process.env.BENCH_VAULT_NODE_ARGS.split(' ').filter(Boolean) : PRODUCTION_NODE_ARGS;
  // BENCH_ALLOC=1: every collection's allocated bytes on stdout, kept in a file (allocMeter).
  const gcTrace = process.env.BENCH_ALLOC === '1' ? ['--trace-gc-nvp'] : [];
  // BENCH_HEAP_SAMPLE=<dir>: the sampling heap profiler, toggled by SIGUSR2 (bench/release/heap-sample.js).
  if (process.env.BENCH_HEAP_SAMPLE) {
    gcTrace.push('-r', join(__dirname, 'heap-sample.js'));
    env.BENCH_HEAP_SAMPLE = process.env.BENCH_HEAP_SAMPLE;
  }
  const stdoutFile = process.env.BENCH_ALLOC === '1' ? join(env.VAULT_DATA_DIR, 'stdout.log') : undefined;
  const spawnIt = (extra: Record<string, string> = {}, heapFlags = true) =>
    spawnJs(
      join(jsDir, 'apps/vault/main.js'),
      { ...env, ...extra },
      'vault',
      [...profile, ...gcTrace, ...(heapFlags ? heapArgs : [])],
      stdoutFile,
    );
  const server: Server = {
    base,
    proc: spawnIt(),
    stdoutFile,
    restart: (extra?: Record<string, string>, heapFlags?: boolean) => (server.proc = spawnIt(extra, heapFlags)),
    replica: () => replicaOf(jsDir, 'apps/vault/main.js', env, 'vault replica', [...profile, ...gcTrace, ...heapArgs], !!stdoutFile),
  };
  await waitFor200(`${base}/readyz`, performance.now(), 120_000, 200, server.proc);
  const admin = issuer.sign({ sub: 'bench-admin', tid: TENANT, scope: 'vault:admin' }, { ttl: 7200 });
  for (const name of INTEGRATIONS) await api(base, admin, 'PUT', `/v1/admin/integrations/${name}`, { provider: 'api_key' });
  await api(base, admin, 'PUT', `/v1/admin/agents/${AGENT}`, { name: 'bench agent' });
  await api(base, admin, 'PUT', '/v1/admin/policies/bench', { agents: [AGENT], integrations: INTEGRATIONS, effect: 'allow' });
  // Creates the tenant key (through Key Vault) the seeded rows are sealed under.
  await api(base, admin, 'PUT', `/v1/admin/connections/${INTEGRATIONS[0]}/users/warm`, { api_key: 'sk-warm' });
  return Object.assign(server, {
    async tenantKey(): Promise<TenantKey> {
      const ds = createDataSource({ url: dbUrl, schema: 'vault', poolSize: 2 });
      await ds.initialize();
      try {
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
        const { version, key } = await keyring.activeTenantKey(asTenantId(TENANT));
        return { version, key: Buffer.from(key) };
      } finally {
        await ds.destroy();
      }
    },
  });
}

/** The floor's database: the vault's schema (same tables and indexes), one tenant, a local tenant key. */
export async function prepareFloorDatabase(dbUrl: string): Promise<{ tk: TenantKey; macKey: Buffer; db: Client }> {
  const ds = createDataSource({ url: dbUrl, schema: 'vault', poolSize: 2 });
  await ds.initialize();
  await runMigrations(ds, 'vault');
  await ds.destroy();
  const db = await schemaClient(dbUrl);
  await db.query(`INSERT INTO tenants (id) VALUES ($1)`, [TENANT]);
  for (const name of INTEGRATIONS) {
    await db.query(`INSERT INTO integrations (tenant, name, id, provider, level) VALUES ($1, $2, $3, 'api_key', 'user')`, [
      TENANT,
      name,
      randomUUID(),
    ]);
  }
  await db.query(`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, $1)`, [Buffer.alloc(32)]);
  return { tk: { version: 1, key: randomBytes(32) }, macKey: randomBytes(32), db };
}

export async function startFloor(jsDir: string, dbUrl: string, tk: TenantKey, macKey: Buffer, issuer: TestIssuer): Promise<Server> {
  const port = await freePort();
  const jwk = { ...issuer.publicKey.export({ format: 'jwk' }), kid: issuer.kid };
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    PORT: String(port),
    DATABASE_URL: dbUrl,
    FLOOR_POOL_SIZE: BENCH_POOL_SIZE,
    FLOOR_ISSUER: JSON.stringify({ issuer: issuer.issuer, audience: AUDIENCE, jwk, skewSeconds: 30 }),
    FLOOR_TENANT_KEY: tk.key.toString('hex'),
    FLOOR_TENANT_KEY_VERSION: String(tk.version),
    FLOOR_MAC_KEY: macKey.toString('hex'),
  };
  const base = `http://127.0.0.1:${port}`;
  // Its own directory (default, unique names): the floor's profiles apart from the vault's, replicas not overwriting each other.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.BENCH_CPU_PROF, 'floor')}`] : [];
  const spawnIt = () => spawnJs(join(jsDir, 'bench/floor/server.js'), env, 'floor', profile);
  const server: Server = {
    base,
    proc: spawnIt(),
    restart: () => (server.proc = spawnIt()),
    replica: () => replicaOf(jsDir, 'bench/floor/server.js', env, 'floor replica', profile),
  };
  await waitFor200(`${base}/readyz`, performance.now(), 60_000, 100, server.proc);
  return server;
}

/** Another process of a server (same environment and database, its own port), once `/readyz` answers 200. */
async function replicaOf(
  jsDir: string,
  main: string,
  env: Record<string, string>,
  label: string,
  nodeArgs: string[],
  keepStdout = false,
): Promise<Server> {
  const port = await freePort();
  const stdoutFile = keepStdout ? join(mkdtempSync(join(tmpdir(), 'vault-bench-')), 'stdout.log') : undefined;
  const spawnIt = () => spawnJs(join(jsDir, main), { ...env, PORT: String(port) }, label, nodeArgs, stdoutFile);
  const server: Server = {
    base: `http://127.0.0.1:${port}`,
    proc: spawnIt(),
    stdoutFile,
    restart: () => (server.proc = spawnIt()),
    replica: () => replicaOf(jsDir, main, env, label, nodeArgs, keepStdout),
  };
  await waitFor200(`${server.base}/readyz`, performance.now(), 120_000, 100, server.proc);
  return server;
}

/** One release; the body when it is a 200. */
export async function releaseOnce(base: string, token: string, integration: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}/v1/connections/${integration}/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json().catch(() => undefined) };
}

/** Exchanged tokens (user subject, agent actor) good for both integrations, over users u<from>…u<to - 1>. */
export function exchangedTokens(
  issuer: TestIssuer,
  count: number,
  from: number,
  to: number,
  claims: Record<string, unknown> = {},
): string[] {
  return Array.from({ length: count }, () => {
    const user = from + Math.floor(Math.random() * (to - from));
    return issuer.agentToken({
      tenant: TENANT,
      user: `u${user}`,
      agent: AGENT,
      integrations: INTEGRATIONS,
      claims: { exp: Math.floor(Date.now() / 1000) + 7200, ...claims },
    });
  });
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
