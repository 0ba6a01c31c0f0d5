/**
 * Plumbing for benchmarks that run the real processes: a throwaway database, TypeScript entry
 * points spawned through SWC, a closed-loop release load, CPU accounting. Mirrors the helpers
 * of bench/key-rotation.bench.ts (which keeps its own copy, unchanged).
 */
import { ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../../libs/db';

export const ROOT = join(__dirname, '..', '..');
export const REGISTER = join(ROOT, 'test/support/register-ts.js');

export interface LoadStats {
  requests: number;
  errors: number;
  /** Non-200 answers by status (0 = no answer). */
  error_statuses?: Record<string, number>;
  rps: number;
  p50: number;
  p99: number;
  max: number;
}

export interface Spawned {
  proc: ChildProcess;
  /** Whether it is still running. */
  alive(): boolean;
  stop(): void;
  /** Resolves with the first stdout line matching `pattern` (the process's "started" line). */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

const live = new Set<ChildProcess>();
// Whatever way this process ends (Ctrl-C included), the processes it started end with it.
process.once('exit', () => live.forEach((c) => c.kill('SIGTERM')));
process.once('SIGINT', () => process.exit(130));

/** A TypeScript entry point (apps/…/main.ts) in its own Node process, compiled on load by SWC. */
export function startTs(entry: string, env: Record<string, string>, label = entry): Spawned {
  const proc = spawn(process.execPath, ['-r', REGISTER, join(ROOT, entry)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  live.add(proc);
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let stopping = false;
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    process.stderr.write(`[${label}] ${l}\n`);
    waiters.splice(0).forEach((w) => w());
  });
  proc.once('exit', (code, signal) => {
    live.delete(proc);
    if (!stopping) log(`${label} exited unexpectedly (${code ?? signal}) at ${new Date().toISOString()}`);
  });
  return {
    proc,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    stop() {
      stopping = true;
      proc.kill('SIGTERM');
    },
    line(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${label}: no line matching ${pattern}`)), timeoutMs);
        const check = () => {
          const hit = lines.find((l) => pattern.test(l));
          if (hit) {
            clearTimeout(timer);
            resolve(hit);
          } else if (proc.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`${label} exited (${proc.exitCode})`));
          } else waiters.push(check);
        };
        proc.once('exit', () => waiters.splice(0).forEach((w) => w()));
        check();
      });
    },
  };
}

/** A fresh database on the machine's Postgres (BENCH_DATABASE_URL, or 127.0.0.1:5432), else an embedded one. */
export async function benchDatabase(): Promise<{ url: string; drop(): Promise<void>; stopEmbedded(): Promise<void> }> {
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

/**
 * `lanes` callers in a closed loop (each sends its next request when the previous one answered)
 * until `during` resolves. `send` returns the HTTP status.
 */
export async function loadFor(lanes: number, send: () => Promise<number>, during: () => Promise<unknown>): Promise<LoadStats> {
  const latencies: number[] = [];
  let errors = 0;
  const statuses: Record<string, number> = {};
  let stop = false;
  const t0 = Date.now();
  const lane = async () => {
    while (!stop) {
      const s = performance.now();
      const status = await send().catch(() => 0);
      latencies.push(performance.now() - s);
      if (status !== 200) {
        errors++;
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }
  };
  const running = Promise.all(Array.from({ length: lanes }, lane));
  try {
    await during();
  } finally {
    stop = true;
    await running;
  }
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

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/** Machine-wide busy and total CPU seconds (all cores) from /proc/stat. */
export function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const n = v.map(Number);
    const idle = n[3] + (n[4] ?? 0);
    const total = n.reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / 100, total: total / 100 };
  } catch {
    return undefined;
  }
}

export function machine(): Record<string, unknown> {
  let load: string | undefined;
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    load = undefined;
  }
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadavg_1_5_15: load,
  };
}

export function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.connect(port, host);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function until(cond: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const secs = (ms: number) => Math.round(ms / 100) / 10;
export const round = (x: number) => Math.round(x * 10) / 10;
export const fmt = (s: LoadStats) => `${s.rps} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms, errors ${s.errors}/${s.requests}`;
export const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

/** The Key Vault emulator (bench/kv-emulator.process.ts) in its own process, driven over IPC. */
export async function keyVaultEmulator(): Promise<{ url: string; caFile: string; token: string; stop(): Promise<void> }> {
  const child = fork(join(ROOT, 'bench/kv-emulator.process.ts'), [], {
    execArgv: ['-r', REGISTER],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const info = await new Promise<{ url: string; caFile: string; token: string }>((resolve, reject) => {
    child.once('message', (m: { id: number; result: { url: string; caFile: string; token: string } }) => resolve(m.result));
    child.once('exit', (code) => reject(new Error(`Key Vault emulator exited (${code})`)));
  });
  return {
    ...info,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send({ id: 1, cmd: 'stop' });
      }),
  };
}

/** Pids of the direct children of `parent` whose command line matches `pattern` (Linux /proc). */
export function childPids(parent: number, pattern: RegExp): number[] {
  const out: number[] = [];
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
        if (ppid === parent && pattern.test(readFileSync(`/proc/${d}/cmdline`, 'utf8'))) out.push(Number(d));
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return out;
}
