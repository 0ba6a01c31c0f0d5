/** The release benchmark's figures: a table with the floor beside the vault, then the raw JSON. */
import { LoadStats, round, round2 } from './load';

export interface Report {
  machine: { cpus: number; cpu: string; memory_gb: number; node: string };
  load_at_start: string;
  load_at_end?: string;
  /** `speedProbe()` ms at the start and at the end (lower is faster). */
  speed_probe_ms?: { start: number; end?: number };
  rounds: Array<{ vault: LoadStats; floor: LoadStats; load: string; vault_inside?: Record<string, number> }>;
  key_vault?: { calls: Record<string, number>; releases: number };
  audited?: { releases_ok: number; audit_events_written: number };
  memory?: Record<'vault' | 'vault_at_ready' | 'floor', { peak_rss_mb: number; rss_mb: number } | undefined>;
  vault_heap?: Record<string, number>;
  /** One more measured run on a vault started without the Docker image's heap flags (NODE_OPTIONS=''). */
  unbounded_heap?: {
    node_options: string;
    stats: LoadStats;
    memory?: { peak_rss_mb: number; rss_mb: number };
    heap?: Record<string, number>;
    load: string;
  };
  /** The same load on REPLICAS processes of each server (one per core), connections shared out. */
  replicas?: { processes: number; rounds: Array<{ vault: LoadStats; floor: LoadStats; load: string }>; peak_rss_mb: number[] };
  cold_starts: Array<{ ready_ms: number; first_release_ms: number; second_release_ms: number; key_vault_calls: Record<string, number> }>;
  scaling: Array<{
    connections: number;
    stats: LoadStats;
    load: string;
    lookup?: { node: string; index?: string; buffers: number; ms: number };
  }>;
  total_seconds?: number;
  /** BENCH_ALLOC=1: heap allocated per release over a fixed number of releases, every token's first use excluded. */
  allocation?: { kb_per_request: number; requests: number; errors: number };
  /** What the vault's token checks held during the runs: revoked tokens and cutoffs in its list, DPoP proofs per request. */
  token_checks?: { revoked_tokens: number; cutoffs: number; dpop: boolean };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const pct = (x: number) => `${Math.round(x * 100)}%`;

export function printReport(r: Report): void {
  const out: string[] = [];
  const row = (...cells: Array<string | number>) => out.push(`| ${cells.join(' | ')} |`);
  out.push(
    `Machine: ${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.memory_gb} GB, Node ${r.machine.node}; load ` +
      `average ${r.load_at_start} at start, ${r.load_at_end ?? '?'} at end`,
  );
  if (r.token_checks)
    out.push(
      `Token checks: ${r.token_checks.revoked_tokens} revoked tokens and ${r.token_checks.cutoffs} cutoffs in the revocation list; ` +
        `DPoP ${r.token_checks.dpop ? 'on (every request with a fresh proof; the floor does no DPoP)' : 'off'}`,
    );
  if (r.speed_probe_ms)
    out.push(
      `Speed probe (fixed JavaScript work, lower is faster): ${r.speed_probe_ms.start} ms at ` +
        `start, ${r.speed_probe_ms.end ?? '?'} ms at end`,
    );
  out.push('');
  row(
    'run',
    'vault req/s',
    'floor req/s',
    'ratio (≥ 95%)',
    'vault p50',
    'floor p50',
    'vault p99',
    'floor p99',
    'p99 ratio (≤ 1.2)',
    'errors vault/floor',
    'load',
  );
  row('---', '---', '---', '---', '---', '---', '---', '---', '---', '---', '---');
  r.rounds.forEach((x, i) =>
    row(
      i + 1,
      x.vault.rps,
      x.floor.rps,
      pct(x.vault.rps / x.floor.rps),
      x.vault.p50,
      x.floor.p50,
      x.vault.p99,
      x.floor.p99,
      round(x.vault.p99 / x.floor.p99).toFixed(2),
      `${x.vault.errors}/${x.floor.errors}`,
      x.load,
    ),
  );
  const v = r.rounds.map((x) => x.vault);
  const f = r.rounds.map((x) => x.floor);
  const vr = mean(v.map((s) => s.rps));
  const fr = mean(f.map((s) => s.rps));
  const vp = mean(v.map((s) => s.p99));
  const fp = mean(f.map((s) => s.p99));
  row(
    '**mean**',
    Math.round(vr),
    Math.round(fr),
    `**${pct(vr / fr)}**`,
    round(mean(v.map((s) => s.p50))),
    round(mean(f.map((s) => s.p50))),
    round(vp),
    round(fp),
    `**${(vp / fp).toFixed(2)}**`,
    '',
    '',
  );
  const cpu = (xs: LoadStats[]) => round2(mean(xs.map((s) => s.cpu_ms_per_request ?? NaN)));
  out.push('');
  out.push(`Server CPU per request (user + system, machine-independent-ish): vault ${cpu(v)} ms, floor ${cpu(f)} ms`);
  if (r.allocation)
    out.push(
      `Vault heap allocation per release (--trace-gc-nvp over ${r.allocation.requests} releases after every token's first use; ` +
        `target ≤ 20 KB): **${r.allocation.kb_per_request} KB**`,
    );
  if (v.some((s) => s.alloc_kb_per_request !== undefined))
    out.push(`Vault heap allocation per request (--trace-gc-nvp, target ≤ 20 KB): ${v.map((s) => s.alloc_kb_per_request).join(', ')} KB`);
  const of = (xs: LoadStats[], k: 'pg_cpu_ms_per_request' | 'loadgen_cpu_ms_per_request' | 'machine_busy' | 'machine_steal') =>
    round2(mean(xs.map((s) => s[k] ?? NaN)));
  out.push(
    `Postgres CPU per request: vault ${of(v, 'pg_cpu_ms_per_request')} ms, floor ${of(f, 'pg_cpu_ms_per_request')} ms; ` +
      `load generator ${of(v, 'loadgen_cpu_ms_per_request')} / ${of(f, 'loadgen_cpu_ms_per_request')} ms; ` +
      `machine busy ${pct(of(v, 'machine_busy'))} / ${pct(of(f, 'machine_busy'))} of ${r.machine.cpus} cores, stolen by ` +
      `the hypervisor ${pct(of(v, 'machine_steal'))} / ${pct(of(f, 'machine_steal'))}`,
  );
  if (r.rounds[0]?.vault_inside)
    out.push(`Inside the vault (from /metrics): ${r.rounds.map((x) => JSON.stringify(x.vault_inside)).join('; ')}`);
  if (r.key_vault) {
    const calls = Object.values(r.key_vault.calls).reduce((a, b) => a + b, 0);
    out.push(
      `Key Vault calls during the measured runs: ${calls} for ${r.key_vault.releases} releases = ` +
        `${round((calls * 1000) / Math.max(1, r.key_vault.releases))} per 1,000 releases ` +
        `${JSON.stringify(r.key_vault.calls)}`,
    );
  }
  if (r.audited)
    out.push(`Audit: ${r.audited.audit_events_written} credential.release events committed for ${r.audited.releases_ok} 200 answers`);
  if (r.memory)
    out.push(
      `Peak RSS under load: vault API ${r.memory.vault?.peak_rss_mb ?? '?'} MB (target ≤ 250; ` +
        `${r.memory.vault_at_ready?.peak_rss_mb ?? '?'} MB peak once ready, before any load; ` +
        `${r.memory.vault?.rss_mb ?? '?'} MB RSS after), floor ${r.memory.floor?.peak_rss_mb ?? '?'} MB`,
    );
  if (r.vault_heap) out.push(`Vault memory after the load (its /metrics): ${JSON.stringify(r.vault_heap)}`);
  if (r.unbounded_heap) {
    const u = r.unbounded_heap;
    out.push(
      `Without the heap flags (NODE_OPTIONS="${u.node_options}"): ${u.stats.rps} req/s (${pct(u.stats.rps / fr)} of the ` +
        `floor's mean), p50 ${u.stats.p50} ms, p99 ${u.stats.p99} ms, ` +
        `${u.stats.cpu_ms_per_request ?? '?'} ms CPU/request, peak RSS ${u.memory?.peak_rss_mb ?? '?'} MB; memory after ` +
        `${JSON.stringify(u.heap)}; load ${u.load}`,
    );
  }
  if (r.replicas) {
    const x = r.replicas;
    out.push('');
    out.push(`${x.processes} processes per server (one per core, the 32 connections shared out; CPU summed over the processes):`);
    out.push('');
    row(
      'run',
      'vault req/s',
      'floor req/s',
      'ratio (≥ 95%)',
      'vault p50',
      'floor p50',
      'vault p99',
      'floor p99',
      'p99 ratio (≤ 1.2)',
      'CPU/request vault / floor',
      'machine busy',
      'load',
    );
    row('---', '---', '---', '---', '---', '---', '---', '---', '---', '---', '---', '---');
    x.rounds.forEach((y, i) =>
      row(
        i + 1,
        y.vault.rps,
        y.floor.rps,
        pct(y.vault.rps / y.floor.rps),
        y.vault.p50,
        y.floor.p50,
        y.vault.p99,
        y.floor.p99,
        (y.vault.p99 / y.floor.p99).toFixed(2),
        `${y.vault.cpu_ms_per_request} / ${y.floor.cpu_ms_per_request} ms`,
        `${pct(y.vault.machine_busy ?? NaN)} / ${pct(y.floor.machine_busy ?? NaN)}`,
        y.load,
      ),
    );
    const rv = mean(x.rounds.map((y) => y.vault.rps));
    const rf = mean(x.rounds.map((y) => y.floor.rps));
    const pv = mean(x.rounds.map((y) => y.vault.p99));
    const pf = mean(x.rounds.map((y) => y.floor.p99));
    row(
      '**mean**',
      Math.round(rv),
      Math.round(rf),
      `**${pct(rv / rf)}**`,
      '',
      '',
      round(pv),
      round(pf),
      `**${(pv / pf).toFixed(2)}**`,
      '',
      '',
      '',
    );
    out.push(`Peak RSS of the vault's processes: ${x.peak_rss_mb.join(', ')} MB`);
    out.push('');
  }
  if (r.cold_starts.length) {
    const c = r.cold_starts;
    out.push(
      `Cold start (spawn → /readyz 200, migrated database): ${c.map((x) => x.ready_ms).join(', ')} ms, median ` +
        `${median(c.map((x) => x.ready_ms))} ms (target ≤ 2000); ` +
        `first release ${c.map((x) => x.first_release_ms).join(', ')} ms (TK unwrap: Key Vault ` +
        `${JSON.stringify(c[0].key_vault_calls)}), second ${c.map((x) => x.second_release_ms).join(', ')} ms`,
    );
  }
  if (r.scaling.length) {
    out.push('');
    row('stored connections', 'req/s', 'p50', 'p99', 'p99 vs first (≤ 1.20)', 'errors', 'lookup plan (EXPLAIN ANALYZE)', 'load');
    row('---', '---', '---', '---', '---', '---', '---', '---');
    const base = r.scaling[0].stats.p99;
    const plan = (l?: { node: string; index?: string; buffers: number; ms: number }) =>
      l ? `${l.node}${l.index ? ` on ${l.index}` : ''}, ${l.buffers} buffers, ${round(l.ms * 1000) / 1000} ms` : '';
    for (const s of r.scaling)
      row(
        s.connections.toLocaleString('en'),
        s.stats.rps,
        s.stats.p50,
        s.stats.p99,
        (s.stats.p99 / base).toFixed(2),
        s.stats.errors,
        plan(s.lookup),
        s.load,
      );
  }
  out.push('');
  process.stdout.write(out.join('\n') + '\n' + JSON.stringify(r, null, 2) + '\n');
}
