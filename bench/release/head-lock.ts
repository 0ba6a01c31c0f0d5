/**
 * Is the audit chain head the limit? (`BENCH_LOCKS=1`.) Samples the server's database every
 * ~10 ms during a run: how many backends hold the head row (in a transaction whose statement names
 * `audit_chain_head`, not waiting on a lock) and how many wait for it (wait_event_type `Lock`).
 * `head_busy` is the share of samples in which some backend held it: near 1, every flush waits
 * for the one before and more processes cannot write faster; well below 1, the head has room.
 * `waiting_mean` is the mean number of backends waiting (Little's law: × flush time = wait time).
 */
import { Client } from 'pg';

export interface HeadLockFigures {
  samples: number;
  head_busy: number;
  waiting_mean: number;
  waiting_max: number;
}

const SAMPLE = `SELECT
  count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting,
  count(*) FILTER (WHERE xact_start IS NOT NULL AND query LIKE '%audit_chain_head%' AND wait_event_type IS DISTINCT FROM 'Lock') AS holding
  FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`;

export function headLockSampler(url: string, on = process.env.BENCH_LOCKS === '1'): { stop(): Promise<HeadLockFigures | undefined> } {
  if (!on) return { stop: async () => undefined };
  const db = new Client({ connectionString: url });
  db.on('error', () => undefined);
  let running = true;
  let samples = 0;
  let busy = 0;
  let waiting = 0;
  let waitingMax = 0;
  const loop = (async () => {
    await db.connect();
    while (running) {
      const { rows } = await db.query<{ waiting: string; holding: string }>(SAMPLE);
      const w = Number(rows[0].waiting);
      samples++;
      waiting += w;
      waitingMax = Math.max(waitingMax, w);
      if (Number(rows[0].holding) > 0) busy++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop.catch(() => undefined);
      await db.end().catch(() => undefined);
      const r = (x: number) => Math.round(x * 100) / 100;
      return {
        samples,
        head_busy: r(busy / Math.max(1, samples)),
        waiting_mean: r(waiting / Math.max(1, samples)),
        waiting_max: waitingMax,
      };
    },
  };
}
