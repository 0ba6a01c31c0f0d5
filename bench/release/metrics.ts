/**
 * The vault's own view of a run, from GET /metrics: audit flushes (how many, how long, how many
 * events each) and release durations as the service measured them. Differences of two scrapes.
 */
export interface VaultCounters {
  flushes: number;
  flushSeconds: number;
  flushedEvents: number;
  releases: number;
  releaseSeconds: number;
}

export async function scrape(base: string): Promise<VaultCounters | undefined> {
  const text = await fetch(`${base}/metrics`)
    .then((r) => (r.ok ? r.text() : undefined))
    .catch(() => undefined);
  if (!text) return undefined;
  const sum = (name: string, filter = '') =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name) && l.includes(filter))
      .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
  return {
    flushes: sum('vault_audit_flush_duration_seconds_count', 'outcome="committed"'),
    flushSeconds: sum('vault_audit_flush_duration_seconds_sum', 'outcome="committed"'),
    flushedEvents: sum('vault_audit_flush_events_sum'),
    releases: sum('vault_release_duration_seconds_count'),
    releaseSeconds: sum('vault_release_duration_seconds_sum'),
  };
}

/** Per-run figures: mean flush time and batch size, mean service-side release time. */
export function describe(before: VaultCounters | undefined, after: VaultCounters | undefined): Record<string, number> | undefined {
  if (!before || !after) return undefined;
  const flushes = after.flushes - before.flushes;
  const releases = after.releases - before.releases;
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    audit_flushes: flushes,
    audit_flush_mean_ms: r(((after.flushSeconds - before.flushSeconds) / Math.max(1, flushes)) * 1000),
    audit_events_per_flush: r((after.flushedEvents - before.flushedEvents) / Math.max(1, flushes)),
    release_service_mean_ms: r(((after.releaseSeconds - before.releaseSeconds) / Math.max(1, releases)) * 1000),
  };
}

/** The API's memory as Node reports it (MB): V8 heap used/total, external, RSS. */
export async function memoryFigures(base: string): Promise<Record<string, number> | undefined> {
  const text = await fetch(`${base}/metrics`)
    .then((r) => (r.ok ? r.text() : undefined))
    .catch(() => undefined);
  if (!text) return undefined;
  const value = (name: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`${name} `))
        ?.split(' ')[1] ?? NaN,
    );
  const mb = (x: number) => Math.round(x / 2 ** 20);
  return {
    heap_used_mb: mb(value('nodejs_heap_size_used_bytes')),
    heap_total_mb: mb(value('nodejs_heap_size_total_bytes')),
    external_mb: mb(value('nodejs_external_memory_bytes')),
    rss_mb: mb(value('process_resident_memory_bytes')),
  };
}
