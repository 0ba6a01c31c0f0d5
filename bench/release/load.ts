/**
 * Release load with autocannon: `connections` keep-alive connections, each sending its next
 * request when the previous one answered. Which token and integration each request carries
 * comes from a seeded generator, so two runs (vault, floor) send the same sequence.
 * Latencies are taken from every answer (autocannon's own histogram keeps only 2xx ones,
 * in whole milliseconds).
 */
import autocannon = require('autocannon');

export interface LoadStats {
  requests: number;
  ok: number;
  errors: number;
  /** Non-200 answers by status ("error" = no answer: reset, timeout). */
  statuses?: Record<string, number>;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** CPU time the server process used per request (user + system), when measured. */
  cpu_ms_per_request?: number;
  /** The same for all PostgreSQL processes, the load generator, and the share of the machine busy. */
  pg_cpu_ms_per_request?: number;
  loadgen_cpu_ms_per_request?: number;
  machine_busy?: number;
  machine_steal?: number;
  /** KB the server's JavaScript heap allocated per request (BENCH_ALLOC=1). */
  alloc_kb_per_request?: number;
  /** How busy the audit chain head was (BENCH_LOCKS=1, bench/release/head-lock.ts). */
  head_lock?: { samples: number; head_busy: number; waiting_mean: number; waiting_max: number };
}

export interface LoadPlan {
  base: string;
  /** Exchanged JWTs, each good for every integration in `integrations`. */
  tokens: string[];
  integrations: string[];
  seconds: number;
  connections: number;
  seed?: number;
  /** A number of requests instead of `seconds` (autocannon's `amount`). */
  amount?: number;
  /** BENCH_DPOP: the tokens are DPoP-bound to this signer's key; each request carries a fresh proof. */
  dpop?: DpopProofs;
}

/** Signs a DPoP proof for one request (the load generator's key). */
export interface DpopProofs {
  proof(path: string, token: string): string;
}

export async function runLoad(plan: LoadPlan): Promise<LoadStats> {
  return runLoadOn([plan.base], plan);
}

/**
 * The same load spread over several servers (replicas on one machine, each with its own port):
 * the connections are shared out between them (each replica gets its own seeded sequence), the
 * answers counted together.
 */
export async function runLoadOn(bases: string[], plan: Omit<LoadPlan, 'base'>): Promise<LoadStats> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const durations = await Promise.all(
    bases.map((base, i) => {
      const connections = Math.floor(plan.connections / bases.length) + (i < plan.connections % bases.length ? 1 : 0);
      return oneInstance({ ...plan, base, connections, seed: (plan.seed ?? 7) + i * 1000 }, latencies, statuses);
    }),
  );
  latencies.sort((a, b) => a - b);
  const q = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0);
  const errors = Object.values(statuses).reduce((a, b) => a + b, 0);
  return {
    requests: latencies.length,
    ok: latencies.length - (errors - (statuses.error ?? 0)),
    errors,
    ...(errors ? { statuses } : {}),
    rps: Math.round(latencies.length / (Math.max(...durations) || plan.seconds)),
    p50: q(0.5),
    p99: q(0.99),
    max: q(1),
  };
}

/** One autocannon instance; latencies and non-200 statuses go into the shared collections. Resolves with its duration (s). */
async function oneInstance(plan: LoadPlan, latencies: number[], statuses: Record<string, number>): Promise<number> {
  const next = prng(plan.seed ?? 7);
  const instance = autocannon({
    url: plan.base,
    connections: plan.connections,
    ...(plan.amount ? { amount: plan.amount } : { duration: plan.seconds }),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        setupRequest: (req: any) => {
          const token = plan.tokens[Math.floor(next() * plan.tokens.length)];
          const integration = plan.integrations[Math.floor(next() * plan.integrations.length)];
          const path = `/v1/connections/${integration}/token`;
          const headers = plan.dpop
            ? { authorization: `DPoP ${token}`, dpop: plan.dpop.proof(path, token) }
            : { authorization: `Bearer ${token}` };
          return { ...req, path, headers };
        },
      },
    ],
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    latencies.push(ms);
    if (status !== 200) statuses[status] = (statuses[status] ?? 0) + 1;
  });
  instance.on('reqError', () => {
    statuses.error = (statuses.error ?? 0) + 1;
  });
  const result = await instance;
  return result.duration || plan.seconds;
}

/** mulberry32: small, fast, seeded. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const round = (x: number) => Math.round(x * 10) / 10;
/** CPU per request: a tenth of a millisecond is too coarse to tell changes of a few percent apart. */
export const round2 = (x: number) => Math.round(x * 100) / 100;
export const fmt = (s: LoadStats) => {
  const cpu =
    (s.cpu_ms_per_request !== undefined ? `, ${s.cpu_ms_per_request} ms CPU/request` : '') +
    (s.alloc_kb_per_request !== undefined ? `, ${s.alloc_kb_per_request} KB allocated/request` : '') +
    (s.head_lock ? `, chain head held ${Math.round(s.head_lock.head_busy * 100)}% of samples, ${s.head_lock.waiting_mean} waiting` : '');
  const machine = `machine ${Math.round((s.machine_busy ?? 0) * 100)}% busy, ${Math.round((s.machine_steal ?? 0) * 100)}% stolen`;
  const others =
    s.pg_cpu_ms_per_request !== undefined
      ? ` (Postgres ${s.pg_cpu_ms_per_request}, load generator ${s.loadgen_cpu_ms_per_request}; ${machine})`
      : '';
  return `${s.rps} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms, errors ${s.errors}/${s.requests}${cpu}${others}`;
};
