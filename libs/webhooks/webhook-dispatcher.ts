import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { TenantId } from '../kernel';
import { reportWebhookDelivery } from '../observability';
import { ClaimedEvent, WebhookOutboxStore } from './webhook-outbox.store';
import { parseRetryAfter, retryDelayMs } from './backoff';
import { DeliveryTarget, WebhookEndpointStore } from './webhook-endpoint.store';
import { TEST_EVENT } from './webhook-events';
import { WebhookSender } from './webhook-sender';

const PURGE_EVERY_MS = 10 * 60_000;

export interface TickResult {
  claimed: number;
  delivered: number;
  failed: number;
  dead: number;
}

/**
 * Delivers outbox events to tenant endpoints: claims due rows in batches (any number of dispatchers,
 * disjoint rows), POSTs each batch in parallel, records the outcome under the lease, and claims the
 * next batch at once when a full one is done. Delivery is at least once (a dispatcher that dies after
 * the POST and before recording it leaves the row to be sent again when its lease ends; the
 * `webhook-id` lets receivers deduplicate). Order is best effort: events of one connection are
 * claimed oldest first, but a retried event can arrive after a later one.
 */
@Injectable()
export class WebhookDispatcher {
  private readonly log = new Logger('webhook-dispatcher');
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly settings: VaultConfig['webhooks'];
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private lastPurge = 0;

  constructor(
    private readonly queue: WebhookOutboxStore,
    private readonly endpoints: WebhookEndpointStore,
    private readonly sender: WebhookSender,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'webhooks'>,
  ) {
    this.settings = config.webhooks;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Lets the deliveries in flight finish and record their outcome. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** One claim-and-deliver pass. */
  async tick(): Promise<TickResult> {
    const batch = await this.queue.claim(this.owner, this.settings.batchSize, this.settings.leaseMs);
    const result: TickResult = { claimed: batch.length, delivered: 0, failed: 0, dead: 0 };
    const targets = new Map<TenantId, Promise<DeliveryTarget | undefined>>();
    try {
      await Promise.all(
        batch.map(async (e) => {
          if (!targets.has(e.tenant)) targets.set(e.tenant, this.endpoints.target(e.tenant));
          const outcome = await this.deliver(e, targets.get(e.tenant)!).catch((err) => {
            this.log.warn(`webhook delivery bookkeeping failed (${err instanceof Error ? err.name : 'error'})`);
            return 'failed' as const;
          });
          result[outcome] += 1;
          // `failed` leaves the event pending (its retry, or another dispatcher's after a lost lease).
          reportWebhookDelivery(() => ({ source: this, eventType: e.type, outcome: outcome === 'failed' ? 'retry' : outcome }));
        }),
      );
    } finally {
      for (const t of targets.values())
        void t.then(
          (x) => x?.key.fill(0),
          () => undefined,
        );
    }
    return result;
  }

  /** Seconds the oldest due event has been waiting for a dispatcher (`vault_webhook_outbox_lag_seconds`). */
  outboxLagSeconds(): Promise<number> {
    return this.queue.lagSeconds();
  }

  /** Deletes delivered and dead events past their retention. */
  async purge(now = Date.now()): Promise<number> {
    let total = 0;
    for (let n = -1; n !== 0 && total < 100_000; total += n) {
      n = await this.queue.purge(new Date(now - this.settings.retentionMs), new Date(now - this.settings.deadRetentionMs));
    }
    return total;
  }

  private async deliver(e: ClaimedEvent, target: Promise<DeliveryTarget | undefined>): Promise<'delivered' | 'failed' | 'dead'> {
    let t: DeliveryTarget | undefined;
    try {
      t = await target;
    } catch {
      // The tenant key or the key provider: ours, and usually passing. Retry like a failed POST.
      return this.retry(e, 'key_unavailable');
    }
    if (!t) return (await this.queue.dropped(e.id, this.owner, 'no_endpoint')) ? 'dead' : 'failed';
    // An event older than the endpoint was meant for an earlier one: an outbox insert that raced a
    // tenant shred (its statement saw the old endpoint) must not reach the endpoint set up after.
    // The event's time is its insert statement's start (it saw an endpoint then), the endpoint's
    // its transaction's start: an event that saw this endpoint is never older than it.
    if (e.createdAt < t.createdAt) return (await this.queue.dropped(e.id, this.owner, 'before_endpoint')) ? 'dead' : 'failed';
    if (e.type !== TEST_EVENT && !t.events.includes('*') && !t.events.includes(e.type)) {
      return (await this.queue.dropped(e.id, this.owner, 'unsubscribed')) ? 'dead' : 'failed';
    }
    const r = await this.sender.send(t, e);
    if (r.ok) {
      await this.queue.delivered(e.id, this.owner);
      return 'delivered';
    }
    return this.retry(e, r.errorClass, parseRetryAfter(r.retryAfter));
  }

  private async retry(e: ClaimedEvent, errorClass: string, retryAfterMs?: number): Promise<'failed' | 'dead'> {
    const s = this.settings;
    const delay = retryDelayMs(e.attempts, { baseMs: s.backoffBaseMs, capMs: s.backoffMaxMs }, retryAfterMs);
    const status = await this.queue.failed(e.id, this.owner, errorClass, delay, s.maxAttempts);
    if (status !== 'dead') return 'failed';
    // Identifiers and the error class only: no URL (it may carry a token), no body, no secret.
    this.log.warn(
      `webhook event ${e.id} (${e.type}) for tenant ${e.tenant} is dead after ${e.attempts} attempts (last error: ${errorClass})`,
    );
    return 'dead';
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let claimed = 0;
      try {
        claimed = (await this.tick()).claimed;
        if (Date.now() - this.lastPurge > PURGE_EVERY_MS) {
          this.lastPurge = Date.now();
          await this.purge();
        }
        failures = 0;
      } catch (err) {
        failures += 1;
        if (failures === 1 || failures % 30 === 0)
          this.log.warn(`webhook claim failed (${err instanceof Error ? err.name : 'error'}); retrying`);
      }
      if (!this.running) break;
      if (claimed >= this.settings.batchSize) continue;
      const delay = failures ? Math.min(30_000, this.settings.pollMs * 2 ** Math.min(failures, 5)) : this.settings.pollMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
