/**
 * Does the one audit chain head serialise API replicas? `node -r ./test/support/register-ts.js
 * bench/audit-writers.bench.ts`. See bench/README.md, "Release path — issue 21".
 *
 * BENCH_PROCESSES ("1,2,3") writer processes on one fresh database of the machine's Postgres, each
 * with its own pool and the real AuditLog (group commit), BENCH_AUDIT_CONCURRENCY (96) closed-loop
 * writers shared out between them, BENCH_SECONDS (10) per run, after 3 s of warm-up. While they
 * write, this process samples `pg_stat_activity` every ~10 ms (bench/release/head-lock.ts): the
 * share of samples in which a backend held the chain head, and how many backends waited for it.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { AuditLog } from '../libs/audit';
import { createDataSource, runMigrations } from '../libs/db';
import { headLockSampler } from './release/head-lock';

const ADMIN = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_AUDIT_CONCURRENCY ?? 96);
const PROCESSES = (process.env.BENCH_PROCESSES ?? '1,2,3').split(',').map(Number);

/** A writer process: `concurrency` closed-loop writers for `ms`; reports events, flushes and mean latency. */
async function writer(url: string, concurrency: number, ms: number): Promise<void> {
  // A flush uses one connection and at most two are in flight (AuditLog's FLUSHES_IN_FLIGHT): 3 is enough and leaves the shared server room.
  const ds = createDataSource({ url, schema: 'vault', poolSize: 3 });
  await ds.initialize();
  const key = randomBytes(32);
  const audit = new AuditLog(ds, { audit: { timeoutMs: 10000, batchMax: 256 } }, { macKey: async () => key });
  const run = async (forMs: number) => {
    const until = performance.now() + forMs;
    const before = audit.stats();
    let events = 0;
    let latency = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const t = performance.now();
          await audit.record({
            tenant: 'bench',
            action: 'credential.release',
            outcome: 'allowed',
            agent: 'a',
            subject: 'u',
            integration: 'openai',
          });
          latency += performance.now() - t;
          events++;
        }
      }),
    );
    return { events, flushes: audit.stats().flushes - before.flushes, latency_ms: latency / Math.max(1, events) };
  };
  await run(3000);
  process.send!({ ready: true });
  await new Promise<void>((r) => process.once('message', () => r()));
  const result = await run(ms);
  await audit.drain();
  await ds.destroy();
  process.send!(result);
}

async function main(): Promise<void> {
  const name = `bench_writers_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN);
  url.pathname = `/${name}`;
  try {
    const ds = createDataSource({ url: url.toString(), schema: 'vault', poolSize: 2 });
    await ds.initialize();
    await runMigrations(ds, 'vault');
    await ds.destroy();
    for (const p of PROCESSES) {
      const children = Array.from({ length: p }, (_, i) =>
        fork(
          __filename,
          ['writer', url.toString(), String(Math.floor(CONCURRENCY / p) + (i < CONCURRENCY % p ? 1 : 0)), String(SECONDS * 1000)],
          {
            execArgv: process.execArgv,
          },
        ),
      );
      const results = children.map((c) => new Promise<any>((r) => c.on('message', (m: any) => !m.ready && r(m))));
      await Promise.all(children.map((c) => new Promise<void>((r) => c.once('message', () => r()))));
      const locks = headLockSampler(url.toString(), true);
      children.forEach((c) => c.send('go'));
      const rs = await Promise.all(results);
      const head = await locks.stop();
      const events = rs.reduce((a, r) => a + r.events, 0);
      const flushes = rs.reduce((a, r) => a + r.flushes, 0);
      process.stdout.write(
        `${JSON.stringify({
          processes: p,
          concurrency: CONCURRENCY,
          events_per_s: Math.round(events / SECONDS),
          flushes_per_s: Math.round(flushes / SECONDS),
          events_per_flush: Math.round((events / Math.max(1, flushes)) * 10) / 10,
          latency_ms: Math.round((rs.reduce((a, r) => a + r.latency_ms * r.events, 0) / Math.max(1, events)) * 10) / 10,
          head_held_ms_per_flush: head ? Math.round(((head.head_busy * SECONDS * 1000) / Math.max(1, flushes)) * 100) / 100 : undefined,
          ...head,
        })}\n`,
      );
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

if (process.argv[2] === 'writer') void writer(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
else
  main().catch((err: Error) => {
    process.stderr.write(`bench failed: ${err.name}: ${err.message}\n`);
    process.exit(1);
  });
