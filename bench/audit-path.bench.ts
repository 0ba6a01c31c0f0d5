/**
 * The audit write path's own cost per event, without Postgres: `node --expose-gc -r
 * ./test/support/register-ts.js bench/audit-path.bench.ts`. See bench/README.md, "Release path — issue 21".
 *
 * The real `AuditLog` (prepare, queue, chain, hash, batch JSON, receipts, waiters) on a fake pool
 * client that answers the head lock and the insert + COMMIT at once, so what is measured is the
 * vault's JavaScript per event: CPU (this process's user + system time, so a busy machine adds
 * little) and heap allocated (young generation sized to hold a whole round: no collection inside
 * it, `heapUsed` before and after). BENCH_GC=1: V8's default young generation instead, so the CPU
 * figure includes the collections the allocation causes (the heap figure is then meaningless). BENCH_EVENTS (30,000) per round, BENCH_BATCH (18: what a
 * release benchmark flush holds) events recorded per turn of the event loop, BENCH_ROUNDS (5).
 * BENCH_FLOOR=1: the floor's audit (bench/floor/audit.ts) instead, on the same fake client.
 * BENCH_HEAP_SAMPLE=<file>: V8's sampling heap profile of one more round (collected objects included),
 * for bench/release/heap-summary.ts with BENCH_EVENTS as the count.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import type { DataSource } from 'typeorm';
import type { Pool } from 'pg';
import { AuditLog } from '../libs/audit';
import { FloorAudit } from './floor/audit';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 30_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 18);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** A pool client that holds the head in memory and answers at once. */
function fakeClient() {
  let head: { seq: string; hash: Buffer } = { seq: '0', hash: Buffer.alloc(32) };
  const client = Object.assign(new EventEmitter(), {
    query(q: unknown, cb?: (err?: Error) => void): unknown {
      if (typeof q === 'object' && q !== null && 'submit' in q) {
        // executeAndCommit: read the parameters back from the statement it submits.
        const conn = {
          stream: {},
          parse() {},
          execute() {},
          sync() {},
          bind(b: { values: unknown[]; valueMapper?: (v: unknown) => unknown }) {
            // What pg's serializer does with each parameter: map it (arrays become their text), then encode text as UTF-8.
            for (const v of b.values) {
              const mapped = b.valueMapper ? b.valueMapper(v) : v;
              if (typeof mapped === 'string') Buffer.byteLength(mapped);
            }
            // The insert's last two parameters (vault and floor alike) are the new head.
            const n = b.values.length;
            if (n >= 3) head = { seq: b.values[n - 2] as string, hash: b.values[n - 1] as Buffer };
          },
        };
        (q as { submit(c: unknown): void }).submit(conn);
        (q as { callback?: (err?: Error) => void }).callback = cb;
        queueMicrotask(() => {
          const s = q as unknown as { handleCommandComplete(m: { text: string }): void; handleReadyForQuery(): void };
          s.handleCommandComplete({ text: 'INSERT 0 1' });
          s.handleCommandComplete({ text: 'COMMIT' });
          s.handleReadyForQuery();
        });
        return undefined;
      }
      if (q === 'ROLLBACK') return Promise.resolve({ rows: [] });
      // The vault reads the head from the last of its three statements' results, the floor from the second of two.
      const row = { rows: [{ seq: head.seq, hash: head.hash }] };
      return Promise.resolve([{ rows: [] }, row, row]);
    },
    release(): void {},
  });
  return client;
}

function fakeDataSource(): DataSource {
  const done = (): void => undefined;
  return { driver: { obtainMasterConnection: () => Promise.resolve([fakeClient(), done]) } } as unknown as DataSource;
}

/** BENCH_FLOOR=1: the floor's audit (bench/floor/audit.ts) on the same fake client, for the same events. */
function floorAudit(key: Buffer): Pick<AuditLog, 'record'> {
  const client = fakeClient();
  const floor = new FloorAudit({ connect: () => Promise.resolve(client) } as unknown as Pool, key);
  return {
    record: (e: ReturnType<typeof releaseEvent>) => floor.record(e).then(() => ({ id: '', seq: '' })),
  } as Pick<AuditLog, 'record'>;
}

/** Shaped like the release service's `credential.release` event. */
function releaseEvent(i: number) {
  return {
    tenant: 'tenant-0001',
    action: 'credential.release',
    outcome: 'allowed' as const,
    agent: `agent-${i % 50}`,
    subject: `user-${i % 2000}`,
    integration: 'github',
    details: {
      connection: '0b8e3c1a-5d2f-4e6a-9b7c-1d2e3f4a5b6c',
      version: 3,
      policies: ['4f0c9a2e-7b1d-4c3e-8a5f-6b7c8d9e0f1a'],
      scopes: ['repo', 'read:user'],
      jti: `jti-${i}`,
    },
  };
}

async function round(audit: Pick<AuditLog, 'record'>): Promise<{ cpuUs: number; bytes: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < EVENTS; i += BATCH) {
    const pending: Array<Promise<unknown>> = [];
    for (let j = 0; j < BATCH; j++) pending.push(audit.record(releaseEvent(i + j)));
    await Promise.all(pending);
  }
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / EVENTS, bytes: (process.memoryUsage().heapUsed - heap0) / EVENTS };
}

async function sampled(audit: Pick<AuditLog, 'record'>, file: string): Promise<void> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<{ profile?: unknown }>((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as { profile?: unknown }))),
    );
  await post('HeapProfiler.startSampling', {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await round(audit);
  writeFileSync(file, JSON.stringify((await post('HeapProfiler.stopSampling')).profile));
  session.disconnect();
}

async function main(): Promise<void> {
  // A young generation that holds a whole round, so heapUsed's growth is what the round allocated.
  if (!process.execArgv.includes('--expose-gc')) {
    const young = process.env.BENCH_GC === '1' ? [] : ['--max-semi-space-size=1024', '--min-semi-space-size=1024'];
    const args = ['--expose-gc', ...young, ...process.execArgv, __filename];
    process.exit(spawnSync(process.execPath, args, { stdio: 'inherit' }).status ?? 1);
  }
  const key = randomBytes(32);
  const audit: Pick<AuditLog, 'record'> =
    process.env.BENCH_FLOOR === '1'
      ? floorAudit(key)
      : new AuditLog(
          fakeDataSource(),
          { audit: { timeoutMs: 5000, batchMax: 256 } },
          {
            macKey: () => Promise.resolve(key),
          },
        );
  // The loop itself (events built, promises awaited) with a log that does nothing: subtract it.
  const nothing = { record: () => Promise.resolve({ id: '', seq: '' }) };
  await round(nothing);
  const loop = await round(nothing);
  console.log(`the loop alone: ${loop.cpuUs.toFixed(2)} µs CPU, ${(loop.bytes / 1024).toFixed(2)} KB heap per event`);
  await round(audit); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const { cpuUs, bytes } = await round(audit);
    const heap = process.env.BENCH_GC === '1' ? 'collections included' : `${(bytes / 1024).toFixed(2)} KB heap per event`;
    console.log(`round ${r + 1}: ${cpuUs.toFixed(2)} µs CPU, ${heap}`);
  }
  if (process.env.BENCH_HEAP_SAMPLE) await sampled(audit, process.env.BENCH_HEAP_SAMPLE);
  if (audit instanceof AuditLog) console.log(`stats ${JSON.stringify(audit.stats())}`);
}

void main();
