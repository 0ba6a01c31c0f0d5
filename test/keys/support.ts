import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { TestVault } from '../support/vault';

const ROOT = join(__dirname, '..', '..');

/** Polls until `cond` holds; fails with `what` after `timeoutMs` (a bound, not a timing assertion). */
export async function waitFor<T>(
  what: string,
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An API-key integration `openai`, agent `mcp-1`, an allow policy, and one key per user (via the admin API). */
export async function seedTenant(v: TestVault, tenant: string, users: string[], concurrency = 8): Promise<void> {
  const a = v.issuer.adminToken(tenant);
  expect((await v.call('PUT', '/v1/admin/integrations/openai', { token: a, body: { provider: 'api_key' } })).status).toBeLessThan(300);
  expect((await v.call('PUT', '/v1/admin/agents/mcp-1', { token: a, body: { name: 'agent' } })).status).toBeLessThan(300);
  expect(
    (await v.call('PUT', '/v1/admin/policies/p', { token: a, body: { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' } }))
      .status,
  ).toBeLessThan(300);
  await inBatches(users, concurrency, async (u) => {
    const r = await putKey(v, tenant, u, `key-${tenant}-${u}`);
    expect(r.status).toBeLessThan(300);
  });
}

export function putKey(v: TestVault, tenant: string, user: string, value: string) {
  return v.call('PUT', `/v1/admin/connections/openai/users/${user}`, { token: v.issuer.adminToken(tenant), body: { api_key: value } });
}

export function release(v: TestVault, tenant: string, user: string, base?: string) {
  const token = v.issuer.agentToken({ tenant, user, agent: 'mcp-1', integrations: ['openai'] });
  if (!base) return v.call('POST', '/v1/connections/openai/token', { token });
  return fetch(`${base}/v1/connections/openai/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).then(
    async (r) => ({ status: r.status, body: (await r.json()) as any }),
  );
}

export async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/**
 * Releases and key writes in a loop until stopped, recording every status: the "reads and
 * writes keep working throughout" half of the rotation tests.
 */
export function trafficDuring(v: TestVault, tenant: string, users: string[], opts: { writes?: boolean } = {}) {
  const statuses: number[] = [];
  const written = new Map<string, string>();
  let stop = false;
  let n = 0;
  const loop = async (lane: number) => {
    while (!stop) {
      const user = users[(n++ * 7 + lane) % users.length];
      if (opts.writes && lane === 0) {
        const value = `rewritten-${tenant}-${user}-${n}`;
        const r = await putKey(v, tenant, user, value);
        statuses.push(r.status);
        if (r.status < 300) written.set(user, value);
      } else {
        const r = await release(v, tenant, user);
        statuses.push(r.status);
      }
    }
  };
  const lanes = Promise.all([0, 1, 2, 3].map(loop));
  return {
    statuses,
    written,
    async stop() {
      stop = true;
      await lanes;
      return statuses;
    },
  };
}

export interface SpawnedWorker {
  proc: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The real worker process (apps/worker/main.ts through SWC, no build) against the test's database. */
export function spawnWorker(env: Record<string, string>): SpawnedWorker {
  const proc = spawn(process.execPath, ['-r', join(ROOT, 'test/support/register-ts.js'), join(ROOT, 'apps/worker/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    output,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** spawnWorker, once the worker says it started; if it exits (or stays silent) first, it is killed and its output is the error. */
export async function startWorker(env: Record<string, string>): Promise<SpawnedWorker> {
  const w = spawnWorker(env);
  try {
    await waitFor(
      'the worker to start',
      () => w.output.join('').includes('worker started') || (w.proc.exitCode !== null && Promise.reject(new Error(w.output.join('')))),
      30_000,
    );
  } catch (e) {
    await w.kill();
    throw e;
  }
  return w;
}

/** Runs the CLI (apps/cli/main.ts through SWC) and collects its exit code and output. */
export function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['-r', join(ROOT, 'test/support/register-ts.js'), join(ROOT, 'apps/cli/main.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
