/**
 * Release-path benchmark (issue 7): `npm run bench`. See bench/README.md, "Release path".
 *
 * Real parts, each in its own process: the vault API (compiled like `npm run build`), the floor
 * (bench/floor/server.ts: node:http + pg + node:crypto doing the same work), Postgres, the Key
 * Vault emulator (HTTPS, real SDK). This process seeds both databases with the same data and
 * runs the load (autocannon) against one server at a time, with the same request sequence.
 *
 * BENCH_SECONDS (15) per measured run, BENCH_ROUNDS (2) vault/floor pairs, BENCH_CONNECTIONS (32),
 * BENCH_SCALE ("10k,100k,1M") stored-connection counts for the scaling runs ("" skips them),
 * BENCH_LOG_LEVEL (info), BENCH_VAULT_ENV (JSON, extra vault env), BENCH_VAULT_NODE_ARGS (the API's node
 * flags instead of the Docker image's), BENCH_REPLICAS (processes per server in the replica rounds),
 * BENCH_CPU_PROF (dir: profile the API and the floor), BENCH_ALLOC=1 (the API's heap allocation per request, from --trace-gc-nvp),
 * BENCH_HEAP_SAMPLE (dir: a sampling heap profile of round 1), BENCH_COLD_STARTS (3),
 * BENCH_LOCKS=1 (how busy the audit chain head is, sampled from pg_stat_activity), BENCH_REVOKED (1000: revoked tokens, and a
 * tenth as many cutoffs, in the vault's revocation list during the runs; the check runs on every release either way),
 * BENCH_DPOP=1 (the tokens are DPoP-bound and every request carries a fresh proof signed by the load generator; issue 18 §5),
 * BENCH_POOL_SIZE (20: Postgres connections per server process, the vault's and the floor's alike).
 */
import { cpus, totalmem } from 'node:os';
import { Client } from 'pg';
import { TestIssuer } from '../test/support/issuer';
import { compileForBench } from './release/compile';
import { benchDatabases } from './release/database';
import { fmt, LoadStats, round, runLoad, runLoadOn } from './release/load';
import {
  allocMeter,
  cpuMeter,
  Emulator,
  speedProbe,
  loadAverage,
  log,
  memoryOf,
  startEmulator,
  stop,
  waitFor200,
} from './release/processes';
import { describe, memoryFigures, scrape } from './release/metrics';
import { printReport, Report } from './release/report';
import { BenchDpop } from './release/dpop';
import { headLockSampler } from './release/head-lock';
import { seedConnections, seededKey, schemaClient } from './release/seed';
import {
  AUDIENCE,
  exchangedTokens,
  INTEGRATIONS,
  prepareFloorDatabase,
  releaseOnce,
  Server,
  startFloor,
  startVault,
  TENANT,
} from './release/setup';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const USERS = 10_000;
const TOKENS = 2_000;
/** BENCH_UNBOUNDED_HEAP=0 skips the run without heap flags. */
const UNBOUNDED_HEAP = process.env.BENCH_UNBOUNDED_HEAP !== '0';
/** Processes per server in the replica rounds (one per core by default); 1 skips them. */
const REPLICAS = Number(process.env.BENCH_REPLICAS ?? cpus().length);
/** BENCH_COLD_STARTS (3): cold starts measured after the load runs. */
const COLD_STARTS = Number(process.env.BENCH_COLD_STARTS ?? 3);
const SCALES = (process.env.BENCH_SCALE ?? '10k,100k,1M').split(',').filter(Boolean).map(parseCount);
const REVOKED = Number(process.env.BENCH_REVOKED ?? 1000);
const DPOP = process.env.BENCH_DPOP === '1' ? new BenchDpop(AUDIENCE) : undefined;

async function main(): Promise<void> {
  const started = Date.now();
  const report: Report = {
    machine: machineInfo(),
    load_at_start: loadAverage(),
    speed_probe_ms: { start: speedProbe() },
    rounds: [],
    cold_starts: [],
    scaling: [],
  };
  log(`load average at start: ${report.load_at_start}; speed probe ${report.speed_probe_ms!.start} ms`);
  const compiled = compileForBench();
  log(`compiled ${compiled.files} files to ${compiled.dir}`);
  const dbs = await benchDatabases(['vault', 'floor']);
  const kv = await startEmulator();
  const issuer = new TestIssuer('https://sts.bench.example', AUDIENCE);
  const servers: Server[] = [];
  try {
    const vault = await startVault(compiled.dir, dbs.urls.vault, kv, issuer);
    servers.push(vault);
    const vaultAtReady = memoryOf(vault.proc.pid);
    const tk = await vault.tenantKey();
    const vdb = await schemaClient(dbs.urls.vault);
    // The smallest scaling point first (fewer users than the main run), then the main run's data.
    const firstScale = SCALES.find((n) => n <= USERS * INTEGRATIONS.length);
    let users = 0;
    const grow = async (to: number) => {
      const t0 = Date.now();
      await seedConnections(vdb, TENANT, tk, INTEGRATIONS, users, to);
      await vdb.query('VACUUM (ANALYZE) connections');
      log(`vault: ${to * INTEGRATIONS.length} connections stored (+${(to - users) * INTEGRATIONS.length} in ${secs(Date.now() - t0)} s)`);
      users = to;
    };
    if (firstScale) {
      await grow(firstScale / INTEGRATIONS.length);
      report.scaling.push(await scalePoint(vault, issuer, users, vdb));
    }
    await grow(USERS);
    await check(vault.base, issuer, [0, USERS - 1]);

    const floorDb = await prepareFloorDatabase(dbs.urls.floor);
    await seedConnections(floorDb.db, TENANT, floorDb.tk, INTEGRATIONS, 0, USERS);
    await floorDb.db.query('VACUUM (ANALYZE) connections');
    const floor = await startFloor(compiled.dir, dbs.urls.floor, floorDb.tk, floorDb.macKey, issuer);
    servers.push(floor);
    await check(floor.base, issuer, [0, USERS - 1]);

    report.token_checks = { ...(await seedRevocations(vdb)), dpop: DPOP !== undefined };

    // ---- vault vs floor, same requests ----
    const tokens = exchangedTokens(issuer, TOKENS, 0, USERS, DPOP ? { cnf: { jkt: DPOP.jkt } } : {});
    const plan = { tokens, integrations: INTEGRATIONS, connections: CONNECTIONS, dpop: DPOP };
    log('warming up (verified-token caches, tenant key, JIT)');
    await runLoad({ ...plan, base: vault.base, seconds: 5, seed: 1 });
    await runLoad({ ...plan, base: floor.base, seconds: 5, seed: 1 });
    // Its releases go out as Bearer (releaseOnce): not with DPoP-bound tokens.
    if (process.env.BENCH_ALLOC === '1' && !DPOP) report.allocation = await allocationRun(vault, plan);
    const auditBefore = await releasesAudited(vdb);
    await kv.call('reset');
    let vaultOk = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const seed = 100 + r;
      const before = await scrape(vault.base);
      let meter = cpuMeter(vault.proc.pid);
      const alloc = allocMeter([vault.stdoutFile]);
      const locks = headLockSampler(dbs.urls.vault);
      const sampleHeap = process.env.BENCH_HEAP_SAMPLE && r === 0;
      if (sampleHeap) vault.proc.kill('SIGUSR2');
      const v = await runLoad({ ...plan, base: vault.base, seconds: SECONDS, seed });
      if (sampleHeap) {
        vault.proc.kill('SIGUSR2');
        log(`heap sample of round 1 (${v.requests} requests) in ${process.env.BENCH_HEAP_SAMPLE}`);
      }
      Object.assign(v, meter.stop(v.requests), { alloc_kb_per_request: alloc.stop(v.requests), head_lock: await locks.stop() });
      const inside = describe(before, await scrape(vault.base));
      vaultOk += v.ok;
      log(`round ${r + 1} vault: ${fmt(v)}; ${JSON.stringify(inside)}`);
      meter = cpuMeter(floor.proc.pid);
      const f = await runLoad({ ...plan, base: floor.base, seconds: SECONDS, seed });
      Object.assign(f, meter.stop(f.requests));
      log(`round ${r + 1} floor: ${fmt(f)}`);
      report.rounds.push({ vault: v, floor: f, load: loadAverage(), vault_inside: inside });
    }
    report.key_vault = { calls: (await kv.call('counts')) as Record<string, number>, releases: vaultOk };
    report.audited = { releases_ok: vaultOk, audit_events_written: (await releasesAudited(vdb)) - auditBefore };
    report.memory = { vault_at_ready: vaultAtReady, vault: memoryOf(vault.proc.pid), floor: memoryOf(floor.proc.pid) };
    report.vault_heap = await memoryFigures(vault.base);

    // ---- one process per core: a second process of each server on the same database ----
    if (REPLICAS > 1) report.replicas = await replicaRounds(vault, floor, plan, dbs.urls);
    await stop(floor.proc);

    // ---- the same load on a vault without the Docker image's heap flags (peak RSS, CPU) ----
    if (UNBOUNDED_HEAP) report.unbounded_heap = await unboundedHeap(vault, plan);

    // ---- cold start: a new API process on the migrated database, then its first release ----
    for (let i = 0; i < COLD_STARTS; i++) report.cold_starts.push(await coldStart(vault, issuer, kv));

    // ---- scaling: p99 as stored connections grow ----
    for (const n of SCALES.filter((s) => s !== firstScale)) {
      if (n <= users * INTEGRATIONS.length) {
        report.scaling.push(await scalePoint(vault, issuer, n / INTEGRATIONS.length, vdb));
        continue;
      }
      await grow(n / INTEGRATIONS.length);
      report.scaling.push(await scalePoint(vault, issuer, users, vdb));
    }
    await vdb.end();
    await floorDb.db.end();
  } finally {
    for (const s of servers) await stop(s.proc).catch(() => undefined);
    await kv.call('stop').catch(() => undefined);
    await dbs.dropAll();
  }
  report.load_at_end = loadAverage();
  report.speed_probe_ms!.end = speedProbe();
  report.total_seconds = secs(Date.now() - started);
  printReport(report);
}

/**
 * A revocation list that is not empty (an empty one is skipped in one comparison): BENCH_REVOKED
 * revoked token ids and a tenth as many user and agent cutoffs, none of them the load's (the
 * releases must succeed). Written with SQL: the vault hears them through its notifications.
 * A vault without revocation (an older build) has no such table: nothing to seed.
 */
async function seedRevocations(vdb: Client): Promise<{ revoked_tokens: number; cutoffs: number }> {
  const [{ t }] = (await vdb.query(`SELECT to_regclass('token_revocations') AS t`)).rows;
  if (!t || REVOKED <= 0) return { revoked_tokens: 0, cutoffs: 0 };
  const cutoffs = Math.ceil(REVOKED / 10);
  await vdb.query(
    `INSERT INTO token_revocations (tenant, jti, expires_at) SELECT $1, gen_random_uuid()::text, now() + interval '2 hours' FROM generate_series(1, $2)`,
    [TENANT, REVOKED],
  );
  await vdb.query(
    `INSERT INTO token_cutoffs (tenant, kind, name, cutoff) SELECT $1, k, k || '-revoked-' || i, now()
       FROM generate_series(1, $2) i, unnest(ARRAY['agent', 'subject']) k`,
    [TENANT, Math.ceil(cutoffs / 2)],
  );
  log(`revocation list: ${REVOKED} revoked tokens, ${2 * Math.ceil(cutoffs / 2)} cutoffs`);
  return { revoked_tokens: REVOKED, cutoffs: 2 * Math.ceil(cutoffs / 2) };
}

/** Releases through the server for a few seeded users: the data decrypts as the vault's own. */
async function check(base: string, issuer: TestIssuer, users: number[]): Promise<void> {
  for (const u of users) {
    const t = issuer.agentToken({ tenant: TENANT, user: `u${u}`, agent: 'mcp-1', integrations: INTEGRATIONS });
    for (const integration of INTEGRATIONS) {
      const r = await releaseOnce(base, t, integration);
      if (r.body?.api_key !== seededKey(`u${u}`, integration)) throw new Error(`${base}: u${u}/${integration} → ${r.status}`);
    }
  }
}

/**
 * The vault as it would be deployed on this host, one API process per core (replicas on the
 * same database: the audit chain, caches and leases are already shared through Postgres), and
 * the floor given the same: REPLICAS processes each, the 32 connections shared out between them.
 * 5 s of warm-up per server, then ROUNDS × SECONDS alternating, CPU summed over the processes.
 */
async function replicaRounds(
  vault: Server,
  floor: Server,
  plan: { tokens: string[]; integrations: string[]; connections: number; dpop?: BenchDpop },
  dbs: Record<string, string>,
): Promise<NonNullable<Report['replicas']>> {
  const extra: Server[] = [];
  try {
    for (let i = 1; i < REPLICAS; i++) extra.push(await vault.replica(), await floor.replica());
    const vaults = [vault, ...extra.filter((_, i) => i % 2 === 0)];
    const floors = [floor, ...extra.filter((_, i) => i % 2 === 1)];
    const rounds: NonNullable<Report['replicas']>['rounds'] = [];
    await runLoadOn(
      vaults.map((s) => s.base),
      { ...plan, seconds: 5, seed: 1 },
    );
    await runLoadOn(
      floors.map((s) => s.base),
      { ...plan, seconds: 5, seed: 1 },
    );
    for (let r = 0; r < ROUNDS; r++) {
      const measure = async (servers: Server[]) => {
        const meter = cpuMeter(servers.map((s) => s.proc.pid));
        const alloc = allocMeter(servers.map((s) => s.stdoutFile));
        const locks = headLockSampler(servers === vaults ? dbs.vault : dbs.floor);
        const stats = await runLoadOn(
          servers.map((s) => s.base),
          { ...plan, seconds: SECONDS, seed: 200 + r },
        );
        return Object.assign(stats, meter.stop(stats.requests), {
          alloc_kb_per_request: alloc.stop(stats.requests),
          head_lock: await locks.stop(),
        });
      };
      const v = await measure(vaults);
      log(`${REPLICAS} processes, round ${r + 1} vault: ${fmt(v)}`);
      const f = await measure(floors);
      log(`${REPLICAS} processes, round ${r + 1} floor: ${fmt(f)}`);
      rounds.push({ vault: v, floor: f, load: loadAverage() });
    }
    return { processes: REPLICAS, rounds, peak_rss_mb: vaults.map((s) => memoryOf(s.proc.pid)?.peak_rss_mb ?? NaN) };
  } finally {
    for (const s of extra) await stop(s.proc).catch(() => undefined);
  }
}

/**
 * BENCH_ALLOC=1: heap bytes allocated per release, independent of how busy the machine is: every
 * token once first (a token's first use verifies its JWT, a cache miss the steady state does not
 * have), then a fixed number of releases (BENCH_ALLOC_REQUESTS, 10,000), the sum of the
 * collections' `allocated=` over them. A run's edges cut one young-generation interval (≤ 16 MB)
 * at most: ±1.6 KB per request over 10,000.
 */
async function allocationRun(
  vault: Server,
  plan: { tokens: string[]; integrations: string[]; connections: number },
): Promise<NonNullable<Report['allocation']>> {
  const requests = Number(process.env.BENCH_ALLOC_REQUESTS ?? 10_000);
  const queue = plan.tokens.map((t, i) => [t, plan.integrations[i % plan.integrations.length]] as const);
  await Promise.all(
    Array.from({ length: plan.connections }, async () => {
      for (let next = queue.pop(); next; next = queue.pop()) await releaseOnce(vault.base, next[0], next[1]);
    }),
  );
  const alloc = allocMeter([vault.stdoutFile]);
  const stats = await runLoad({ ...plan, base: vault.base, seconds: 0, amount: requests, seed: 99 });
  const kb = alloc.stop(stats.requests);
  log(`allocation: ${kb} KB per release over ${stats.requests} releases (${stats.errors} errors)`);
  return { kb_per_request: kb ?? NaN, requests: stats.requests, errors: stats.errors };
}

/** A new vault process with NODE_OPTIONS='' (V8's default heap sizing): 5 s warm-up, one measured run. */
async function unboundedHeap(
  vault: Server,
  plan: { tokens: string[]; integrations: string[]; connections: number; dpop?: BenchDpop },
): Promise<NonNullable<Report['unbounded_heap']>> {
  await stop(vault.proc);
  const proc = vault.restart({ NODE_OPTIONS: '' }, false);
  await waitFor200(`${vault.base}/readyz`, performance.now(), 60_000, 20, proc);
  await runLoad({ ...plan, base: vault.base, seconds: 5, seed: 1 });
  const meter = cpuMeter(proc.pid);
  const stats = await runLoad({ ...plan, base: vault.base, seconds: SECONDS, seed: 100 });
  Object.assign(stats, meter.stop(stats.requests));
  const result = { node_options: '', stats, memory: memoryOf(proc.pid), heap: await memoryFigures(vault.base), load: loadAverage() };
  log(`without heap flags: ${fmt(stats)}; peak RSS ${result.memory?.peak_rss_mb} MB`);
  return result;
}

async function coldStart(vault: Server, issuer: TestIssuer, kv: Emulator): Promise<Report['cold_starts'][number]> {
  await stop(vault.proc);
  await kv.call('reset');
  const t0 = performance.now();
  const proc = vault.restart();
  const ready = await waitFor200(`${vault.base}/readyz`, t0, 60_000, 5, proc);
  const token = issuer.agentToken({ tenant: TENANT, user: 'u1', agent: 'mcp-1', integrations: INTEGRATIONS });
  const s = performance.now();
  const first = await releaseOnce(vault.base, token, INTEGRATIONS[0]);
  const firstMs = performance.now() - s;
  const s2 = performance.now();
  await releaseOnce(vault.base, token, INTEGRATIONS[1]);
  const secondMs = performance.now() - s2;
  if (first.status !== 200) throw new Error(`first release after start → ${first.status}`);
  const calls = (await kv.call('counts')) as Record<string, number>;
  const cs = { ready_ms: Math.round(ready), first_release_ms: round(firstMs), second_release_ms: round(secondMs), key_vault_calls: calls };
  log(
    `cold start: /readyz 200 after ${cs.ready_ms} ms; first release ${cs.first_release_ms} ms, second ` +
      `${cs.second_release_ms} ms; Key Vault ${JSON.stringify(calls)}`,
  );
  return cs;
}

async function scalePoint(vault: Server, issuer: TestIssuer, users: number, db: Client): Promise<Report['scaling'][number]> {
  const tokens = exchangedTokens(issuer, TOKENS, 0, users);
  const plan_ = await lookupPlan(db, `u${Math.floor(Math.random() * users)}`);
  const plan = { tokens, integrations: INTEGRATIONS, connections: CONNECTIONS, base: vault.base };
  await runLoad({ ...plan, seconds: 3, seed: 2 });
  const stats: LoadStats = await runLoad({ ...plan, seconds: Math.max(5, Math.round(SECONDS * 0.67)), seed: 3 });
  log(`scaling, ${users * INTEGRATIONS.length} connections: ${fmt(stats)}; lookup ${JSON.stringify(plan_)}`);
  return { connections: users * INTEGRATIONS.length, stats, load: loadAverage(), lookup: plan_ };
}

/** How Postgres runs the release's connection lookup (ConnectionStore.findForRelease's WHERE): node, index, buffers, time. */
async function lookupPlan(db: Client, subject: string): Promise<{ node: string; index?: string; buffers: number; ms: number }> {
  const { rows } = await db.query(
    `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM connections WHERE tenant = $1 AND integration = $2 AND subject = $3`,
    [TENANT, INTEGRATIONS[0], subject],
  );
  const top = rows[0]['QUERY PLAN'][0];
  const node = top.Plan;
  return {
    node: node['Node Type'],
    index: node['Index Name'],
    buffers: (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0),
    ms: top['Execution Time'],
  };
}

async function releasesAudited(db: { query(sql: string): Promise<{ rows: Array<{ n: string }> }> }): Promise<number> {
  const { rows } = await db.query(`SELECT count(*) AS n FROM audit_events WHERE action = 'credential.release' AND outcome = 'allowed'`);
  return Number(rows[0].n);
}

function machineInfo(): Report['machine'] {
  return { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version };
}

function parseCount(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new Error(`BENCH_SCALE: cannot read "${s}"`);
  return Math.round(Number(m[1]) * (m[2].toLowerCase() === 'k' ? 1e3 : m[2].toLowerCase() === 'm' ? 1e6 : 1));
}

const secs = (ms: number) => Math.round(ms / 100) / 10;

main().catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
