import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AuditFlushEvent, KeyProviderCallEvent, RefreshEvent, WebhookDeliveryEvent } from './channels';
import { PendingCounts } from './pending-counts';

/** What the metrics read at scrape time. Every source is optional (a worker has no HTTP, a test may omit some). */
export interface MetricSources {
  /** Tenant-key cache counters since start. */
  keyCache?(): { hits: number; misses: number };
  /** The audit log's group-commit counters (`AuditLog.stats()`). */
  audit?(): { flushes: number; committedEvents: number; failedFlushes: number; timeouts: number; queued: number };
  /** The database pool right now; `undefined` when it is not open. */
  pool?(): { total: number; idle: number; waiting: number; max: number } | undefined;
  /** Seconds the oldest due refresh has waited (the refresh queue's lag). */
  refreshLag?(): Promise<number>;
  /** Seconds the oldest due, undelivered webhook event has waited (the outbox's lag); only where a dispatcher runs. */
  webhookLag?(): Promise<number>;
}

export type ReleaseOutcome = 'released' | 'denied' | 'error';

/** A label value is an identifier (integration name, reason code) or it becomes `other`: never free text. */
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
/** Distinct values a caller-influenced label may take before new ones are folded into `other`. */
const MAX_LABEL_VALUES = 500;

class BoundedLabel {
  private readonly seen = new Set<string>();
  value(raw: string | undefined): string {
    if (raw === undefined || raw === '') return 'none';
    // Seen values passed the pattern already: one lookup for the usual call.
    if (this.seen.has(raw)) return raw;
    if (!LABEL.test(raw)) return 'other';
    if (this.seen.size >= MAX_LABEL_VALUES) return 'other';
    this.seen.add(raw);
    return raw;
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The vault's Prometheus metrics, in a registry of their own (one per app, so several apps in
 * one process do not share counters). Labels are integration names, reason codes, operation
 * names, event types and outcomes only: never a user, an agent, a tenant, a URL or a value.
 *
 * @example
 *   const metrics = new VaultMetrics({ pool: () => ({ total: 3, idle: 2, waiting: 0, max: 20 }) });
 *   metrics.recordRelease({ outcome: 'denied', integration: 'openai', reason: 'policy_denied', seconds: 0.004 });
 *   res.header('content-type', metrics.contentType).send(await metrics.text());
 */
export class VaultMetrics {
  readonly registry = new Registry();
  private readonly releaseSeconds: Histogram<'outcome'>;
  /** Per release: counts added to their counters at scrape time, and the duration histogram's child per outcome (prom-client's `labels`, made once). */
  private readonly pendingReleases = new PendingCounts(['outcome', 'integration']);
  private readonly pendingDenials = new PendingCounts(['reason']);
  private readonly releaseSecondsBy = new Map<ReleaseOutcome, { observe(value: number): void }>();
  private readonly rateLimited: Counter<'route_group' | 'limiter'>;
  private readonly keyProviderCalls: Counter<'provider' | 'operation' | 'outcome'>;
  private readonly keyProviderSeconds: Histogram<'provider' | 'operation'>;
  private readonly auditFlushSeconds: Histogram<'outcome'>;
  private readonly auditBatchEvents: Histogram;
  private readonly refreshes: Counter<'provider' | 'trigger' | 'outcome' | 'error_class'>;
  private readonly refreshSeconds: Histogram<'provider' | 'outcome'>;
  private readonly webhookDeliveries: Counter<'event_type' | 'outcome'>;
  private webhookLagGauge?: Gauge;
  private webhookLagSource?: () => Promise<number>;
  private readonly providers = new BoundedLabel();
  private readonly errorClasses = new BoundedLabel();
  private readonly integrations = new BoundedLabel();
  private readonly reasons = new BoundedLabel();
  private readonly eventTypes = new BoundedLabel();

  constructor(sources: MetricSources = {}, opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const { pendingReleases, pendingDenials } = this;
    // vault_releases_total and vault_release_denials_total: fed through the pending counts.
    new Counter({
      name: 'vault_releases_total',
      help: 'Credential release requests by outcome (released, denied, error) and integration',
      labelNames: ['outcome', 'integration'],
      registers,
      collect() {
        pendingReleases.flushInto(this);
      },
    });
    new Counter({
      name: 'vault_release_denials_total',
      help: 'Refused credential releases by reason code',
      labelNames: ['reason'],
      registers,
      collect() {
        pendingDenials.flushInto(this);
      },
    });
    this.releaseSeconds = new Histogram({
      name: 'vault_release_duration_seconds',
      help: 'Credential release latency, request received to response sent',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.rateLimited = new Counter({
      name: 'vault_rate_limited_total',
      help: 'Requests refused with 429 by route group and limiter (ip, caller)',
      labelNames: ['route_group', 'limiter'],
      registers,
    });
    this.keyProviderCalls = new Counter({
      name: 'vault_key_provider_calls_total',
      help: 'Key provider (Key Vault) operations by provider, operation and outcome',
      labelNames: ['provider', 'operation', 'outcome'],
      registers,
    });
    this.keyProviderSeconds = new Histogram({
      name: 'vault_key_provider_call_duration_seconds',
      help: 'Key provider (Key Vault) operation latency',
      labelNames: ['provider', 'operation'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.auditFlushSeconds = new Histogram({
      name: 'vault_audit_flush_duration_seconds',
      help: 'Audit group-commit flush (batch) latency by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.auditBatchEvents = new Histogram({
      name: 'vault_audit_flush_events',
      help: 'Events per committed audit flush',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.refreshes = new Counter({
      name: 'vault_refresh_total',
      help:
        'OAuth refresh attempts by provider, trigger ' +
        '(on_demand, scheduled), outcome and error class; outcome lease_wait counts lease contention',
      labelNames: ['provider', 'trigger', 'outcome', 'error_class'],
      registers,
    });
    this.refreshSeconds = new Histogram({
      name: 'vault_refresh_duration_seconds',
      help: 'OAuth refresh latency (provider call and commit) by provider and outcome',
      labelNames: ['provider', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'vault_webhook_deliveries_total',
      help: 'Webhook delivery attempts by event type and outcome (delivered, retry, dead)',
      labelNames: ['event_type', 'outcome'],
      registers,
    });
    this.pulled(sources);
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** One answered release request. `reason` is the problem code of a refusal or error. */
  recordRelease(r: { outcome: ReleaseOutcome; integration?: string; reason?: string; seconds: number }): void {
    this.pendingReleases.add(r.outcome, this.integrations.value(r.integration));
    if (r.outcome === 'denied') this.pendingDenials.add(this.reasons.value(r.reason));
    let seconds = this.releaseSecondsBy.get(r.outcome);
    if (seconds === undefined) this.releaseSecondsBy.set(r.outcome, (seconds = this.releaseSeconds.labels({ outcome: r.outcome })));
    seconds.observe(r.seconds);
  }

  recordRateLimited(routeGroup: string, limiter: string): void {
    this.rateLimited.inc({ route_group: routeGroup, limiter });
  }

  recordKeyProviderCall(e: KeyProviderCallEvent): void {
    this.keyProviderCalls.inc({ provider: e.provider, operation: e.operation, outcome: e.outcome });
    this.keyProviderSeconds.observe({ provider: e.provider, operation: e.operation }, e.seconds);
  }

  recordAuditFlush(e: AuditFlushEvent): void {
    this.auditFlushSeconds.observe({ outcome: e.outcome }, e.seconds);
    if (e.outcome === 'committed') this.auditBatchEvents.observe(e.events);
  }

  recordRefresh(e: RefreshEvent): void {
    this.refreshes.inc({
      provider: this.providers.value(e.provider),
      trigger: e.trigger,
      outcome: e.outcome,
      error_class: this.errorClasses.value(e.errorClass ?? undefined),
    });
    if (e.outcome !== 'lease_wait')
      this.refreshSeconds.observe({ provider: this.providers.value(e.provider), outcome: e.outcome }, e.seconds);
  }

  recordWebhookDelivery(e: WebhookDeliveryEvent): void {
    this.webhookDeliveries.inc({ event_type: this.eventTypes.value(e.eventType), outcome: e.outcome });
  }

  /**
   * Exports `vault_webhook_outbox_lag_seconds`, read from `lag` at scrape time: for a process whose
   * dispatcher starts after its metrics were built (the API's, with WEBHOOKS_IN_PROCESS). Calling it
   * again replaces the source.
   */
  watchWebhookOutboxLag(lag: () => Promise<number>): void {
    this.webhookLagSource = lag;
    if (this.webhookLagGauge) return;
    const read = () => this.webhookLagSource?.() ?? Promise.resolve(undefined);
    this.webhookLagGauge = new Gauge({
      name: 'vault_webhook_outbox_lag_seconds',
      help: 'How long the oldest due, undelivered webhook event has been waiting (0 when the dispatchers keep up)',
      registers: [this.registry],
      async collect() {
        // As for the refresh lag: a scrape must not fail because the database is down.
        const v = await read().catch(() => undefined);
        if (v !== undefined) this.set(v);
      },
    });
  }

  /** Metrics read from their owners at scrape time. */
  private pulled(s: MetricSources): void {
    const registers = [this.registry];
    const counter = (name: string, help: string, read: () => number | undefined) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          const v = read();
          this.reset();
          if (v !== undefined) this.inc(v);
        },
      });
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const v = read();
          if (v !== undefined) this.set(v);
        },
      });
    if (s.keyCache) {
      const cache = s.keyCache;
      counter('vault_tenant_key_cache_hits_total', 'Tenant-key cache hits', () => cache().hits);
      counter(
        'vault_tenant_key_cache_misses_total',
        'Tenant-key cache misses (each is one coalesced key provider unwrap)',
        () => cache().misses,
      );
      gauge('vault_tenant_key_cache_hit_ratio', 'Tenant-key cache hits / lookups since start (1 before any lookup)', () => {
        const { hits, misses } = cache();
        return hits + misses === 0 ? 1 : hits / (hits + misses);
      });
    }
    if (s.audit) {
      const audit = s.audit;
      counter('vault_audit_flushes_total', 'Committed audit flush transactions', () => audit().flushes);
      counter('vault_audit_events_committed_total', 'Audit events committed', () => audit().committedEvents);
      counter('vault_audit_flush_failures_total', 'Audit flushes that failed or were abandoned', () => audit().failedFlushes);
      counter(
        'vault_audit_timeouts_total',
        'Audit records rejected because their deadline passed (the release answered 503)',
        () => audit().timeouts,
      );
      gauge('vault_audit_queue_events', 'Audit events waiting for a flush', () => audit().queued);
    }
    if (s.pool) {
      const pool = s.pool;
      gauge('vault_db_pool_connections', 'Open database connections (idle and in use)', () => pool()?.total);
      gauge('vault_db_pool_idle_connections', 'Idle database connections', () => pool()?.idle);
      gauge('vault_db_pool_waiting_requests', 'Queries waiting for a free connection', () => pool()?.waiting);
      gauge('vault_db_pool_max_connections', 'Configured maximum of database connections', () => pool()?.max);
    }
    if (s.refreshLag) {
      const lag = s.refreshLag;
      new Gauge({
        name: 'vault_refresh_queue_lag_seconds',
        help: 'How long the oldest due, unclaimed OAuth refresh has been waiting (0 when the worker keeps up)',
        registers,
        async collect() {
          // A scrape must not fail because the database is down: the gauge keeps its last value.
          const v = await lag().catch(() => undefined);
          if (v !== undefined) this.set(v);
        },
      });
    }
    if (s.webhookLag) this.watchWebhookOutboxLag(s.webhookLag);
  }
}
