/**
 * What the audit_chain_head guard (migration 1100) costs the release path's audit write:
 * `node -r ./test/support/register-ts.js bench/audit-head-guard.bench.ts`. See bench/README.md,
 * "Audit head guard".
 *
 * The real AuditLog (group commit, one statement per batch) on the machine's Postgres
 * (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres; a fresh database,
 * dropped afterwards). BENCH_AUDIT_EVENTS (20000) events per run from BENCH_AUDIT_CONCURRENCY (64)
 * closed-loop writers; runs alternate guard on / guard off (the trigger disabled) BENCH_ROUNDS (3) times.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { AuditLog } from '../libs/audit';
import { createDataSource, runMigrations } from '../libs/db';

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 20000);
const CONCURRENCY = Number(process.env.BENCH_AUDIT_CONCURRENCY ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ADMIN = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function run(audit: AuditLog): Promise<{ perSecond: number; p50: number; p99: number; flushes: number }> {
  const latencies: number[] = [];
  const before = audit.stats().flushes;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < EVENTS) {
        next++;
        const t = performance.now();
        await audit.record({
          tenant: 'bench',
          action: 'credential.release',
          outcome: 'allowed',
          agent: 'agent-1',
          subject: 'user-1',
          integration: 'openai',
        });
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 100) / 100;
  return { perSecond: Math.round(EVENTS / seconds), p50: at(0.5), p99: at(0.99), flushes: audit.stats().flushes - before };
}

async function main(): Promise<void> {
  const name = `bench_audit_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  // The guard's own time, measured inside Postgres (pg_stat_user_functions): free of the client's noise.
  await admin.query(`ALTER DATABASE ${name} SET track_functions = 'pl'`);
  const url = new URL(ADMIN);
  url.pathname = `/${name}`;
  const ds = createDataSource({ url: url.toString(), schema: 'vault', poolSize: 20 });
  try {
    await ds.initialize();
    await runMigrations(ds, 'vault');
    const audit = new AuditLog(ds, { audit: { timeoutMs: 10000, batchMax: 256 } }, { macKey: async () => randomBytes(32) });
    await run(audit); // warm-up
    for (let round = 1; round <= ROUNDS; round++) {
      for (const guard of [true, false]) {
        await ds.query(`ALTER TABLE audit_chain_head ${guard ? 'ENABLE' : 'DISABLE'} TRIGGER audit_chain_head_advance`);
        const r = await run(audit);
        process.stdout.write(`${JSON.stringify({ round, guard, events: EVENTS, concurrency: CONCURRENCY, ...r })}\n`);
      }
    }
    await audit.drain();
    await ds.destroy(); // backends report their function statistics when they exit
    await new Promise((r) => setTimeout(r, 1500));
    const c = new Client({ connectionString: url.toString() });
    await c.connect();
    const [f] = (await c.query(`SELECT calls, total_time FROM pg_stat_user_functions WHERE funcname = 'audit_chain_head_guard'`)).rows as {
      calls: string;
      total_time: number;
    }[];
    await c.end();
    if (f) {
      const perFlushUs = Math.round((f.total_time * 1000) / Number(f.calls));
      process.stdout.write(
        `${JSON.stringify({ guard_calls: Number(f.calls), guard_ms_total: Math.round(f.total_time), guard_us_per_flush: perFlushUs })}\n`,
      );
    }
  } finally {
    if (ds.isInitialized) await ds.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.name}: ${err.message}\n`);
  process.exit(1);
});
