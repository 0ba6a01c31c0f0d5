/**
 * The processes of the release benchmark: compiled servers (their stdout — the JSON request
 * logs — goes to /dev/null, as a log shipper would take it away), the Key Vault emulator over
 * IPC, and what /proc says about them (peak RSS).
 */
import { ChildProcess, fork, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const REGISTER = join(ROOT, 'test/support/register-ts.js');

export const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A compiled entry point (`<dir>/apps/vault/main.js`) in its own Node process. */
export function spawnJs(
  file: string,
  env: Record<string, string>,
  label: string,
  nodeArgs: string[] = [],
  stdoutFile?: string,
): ChildProcess {
  const out = openSync(stdoutFile ?? '/dev/null', 'a');
  const child = spawn(process.execPath, [...nodeArgs, file], { env, stdio: ['ignore', out, 'inherit'] });
  child.once('exit', (code, signal) => {
    if (code) log(`${label} exited with ${code ?? signal}`);
  });
  return child;
}

/** Stops a child with SIGTERM and waits for it (SIGKILL after 10 s). */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `url` until it answers 200; resolves with the milliseconds since `since`. */
export async function waitFor200(url: string, since: number, timeoutMs = 60_000, everyMs = 10, proc?: ChildProcess): Promise<number> {
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`${url}: the process exited (${proc.exitCode})`);
    const status = await fetch(url)
      .then((r) => (r.body?.cancel(), r.status))
      .catch(() => 0);
    if (status === 200) return performance.now() - since;
    if (performance.now() - since > timeoutMs) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Peak (VmHWM) and current (VmRSS) resident set of a process, in MB, from /proc (Linux). */
export function memoryOf(pid: number | undefined): { peak_rss_mb: number; rss_mb: number } | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { peak_rss_mb: Math.round(kb('VmHWM') / 1024), rss_mb: Math.round(kb('VmRSS') / 1024) };
  } catch {
    return undefined;
  }
}

/**
 * Bytes the JavaScript heap allocated during a run, per request (`BENCH_ALLOC=1`): the server runs
 * with `--trace-gc-nvp`, which prints one line per collection with `allocated=<bytes since the
 * previous collection>` to its stdout (a file then, not /dev/null). The sum over the collections
 * that happened during the run, per request answered, in KB. The run's edges cut one collection
 * interval (a few MB) at most: over tens of thousands of requests that is well under 1 %.
 */
export function allocMeter(stdoutFiles: Array<string | undefined>): { stop(requests: number): number | undefined } {
  const files = stdoutFiles.filter((f): f is string => !!f);
  const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
  const offsets = files.map(size);
  return {
    stop(requests: number): number | undefined {
      if (files.length === 0) return undefined;
      let bytes = 0;
      files.forEach((f, i) => {
        const end = size(f);
        const buf = Buffer.alloc(end - offsets[i]);
        const fd = openSync(f, 'r');
        try {
          readSync(fd, buf, 0, buf.length, offsets[i]);
        } finally {
          closeSync(fd);
        }
        for (const m of buf.toString('latin1').matchAll(/ allocated=(\d+)/g)) bytes += Number(m[1]);
      });
      return Math.round((bytes / 1024 / Math.max(1, requests)) * 10) / 10;
    },
  };
}

export interface Emulator {
  url: string;
  caFile: string;
  token: string;
  /** 'reset' clears the request log; 'counts' → requests by "operation status"; 'stop'. */
  call(cmd: 'reset' | 'counts' | 'stop'): Promise<unknown>;
}

/** bench/kv-emulator.process.ts (shared with the key-rotation bench), driven over IPC. */
export async function startEmulator(): Promise<Emulator> {
  const child = fork(join(ROOT, 'bench/kv-emulator.process.ts'), [], {
    execArgv: ['-r', REGISTER],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, (v: unknown) => void>();
  let next = 1;
  child.on('message', (m: { id: number; result: unknown }) => waiting.get(m.id)?.(m.result));
  const info = (await new Promise<unknown>((resolve, reject) => {
    waiting.set(0, resolve);
    child.once('exit', (code) => reject(new Error(`Key Vault emulator exited (${code})`)));
  })) as { url: string; caFile: string; token: string };
  return {
    ...info,
    call(cmd) {
      if (child.exitCode !== null) return Promise.resolve(undefined);
      const id = next++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        if (cmd === 'stop') child.once('exit', () => resolve(undefined));
        child.send({ id, cmd });
      });
    },
  };
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

/** The machine's 1/5/15-minute load average, as `uptime` shows it. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** CPU seconds of every PostgreSQL process on the machine (postmaster, backends, WAL writer…), exited backends included. */
function postgresCpuSeconds(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.split(') ')[1].split(' ');
      // utime + stime, and cutime + cstime: the postmaster's holds backends that have exited.
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
    } catch {
      // the process ended between the listing and the read
    }
  }
  return total;
}

/**
 * Busy, stolen and total jiffies of the whole machine (/proc/stat's cpu line; idle and iowait are
 * not busy; steal is time the hypervisor gave this VM's CPUs to someone else).
 */
function machineJiffies(): { busy: number; steal: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4] - f[7], steal: f[7], total };
}

/**
 * How fast this machine runs plain JavaScript right now: milliseconds for a fixed piece of work
 * (JSON and string handling, like a request's). The same code measured 2x apart within an hour
 * on these VMs, so the report prints this beside the figures.
 */
export function speedProbe(): number {
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < 20_000; i++) {
    const text = JSON.stringify({ id: `c-${i}`, version: i, scopes: ['a', 'b'], at: new Date(i * 1000).toISOString() });
    n += (JSON.parse(text) as { version: number }).version + text.length;
  }
  if (n < 0) throw new Error('unreachable');
  return Math.round(performance.now() - t0);
}

export interface CpuFigures {
  /** The server's CPU (user + system) per request answered. */
  cpu_ms_per_request: number;
  /** All PostgreSQL processes' CPU per request answered. */
  pg_cpu_ms_per_request: number;
  /** The load generator's (this process's) CPU per request. */
  loadgen_cpu_ms_per_request: number;
  /** Share of the machine's cores busy during the run (all processes). */
  machine_busy: number;
  /** Share of the machine's cores' time stolen by the hypervisor during the run. */
  machine_steal: number;
}

/** Starts counting CPU for one run of a server (its processes); `stop(requests)` gives the figures per request. */
export function cpuMeter(pids: number | undefined | Array<number | undefined>): { stop(requests: number): CpuFigures } {
  const serverSeconds = () => [pids].flat().reduce<number>((sum, pid) => sum + cpuSeconds(pid), 0);
  const server = serverSeconds();
  const pg = postgresCpuSeconds();
  const own = process.cpuUsage();
  const machine = machineJiffies();
  return {
    stop(requests: number): CpuFigures {
      const perRequest = (seconds: number) => Math.round((seconds * 1000 * 100) / Math.max(1, requests)) / 100;
      const ownUsed = process.cpuUsage(own);
      const m = machineJiffies();
      return {
        cpu_ms_per_request: perRequest(serverSeconds() - server),
        pg_cpu_ms_per_request: perRequest(postgresCpuSeconds() - pg),
        loadgen_cpu_ms_per_request: perRequest((ownUsed.user + ownUsed.system) / 1e6),
        machine_busy: Math.round(((m.busy - machine.busy) / Math.max(1, m.total - machine.total)) * 100) / 100,
        machine_steal: Math.round(((m.steal - machine.steal) / Math.max(1, m.total - machine.total)) * 100) / 100,
      };
    },
  };
}
