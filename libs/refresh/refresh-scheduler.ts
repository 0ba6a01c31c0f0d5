import { Inject, Injectable, Logger } from '@nestjs/common';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { OAuthCredentialStore } from '../connections';
import { ConnectionRefresher } from './connection-refresher';

/**
 * The worker's refresh loop: claims due connections in batches (`FOR UPDATE SKIP LOCKED` + a
 * lease, so any number of workers take disjoint rows), refreshes them with bounded concurrency
 * through the same ConnectionRefresher the release path uses, and claims the next batch as soon
 * as a full one is done. If the database is unreachable nothing is claimed, so no provider is
 * called. `stop()` (SIGTERM: deploys, scale-in) claims nothing more and starts no further call:
 * the calls in flight finish and commit (bounded by the lease), the rest of the batch is given
 * back untouched, so only SIGKILL or a crash can interrupt a call.
 */
@Injectable()
export class RefreshScheduler {
  private readonly log = new Logger('refresh-scheduler');
  private running = false;
  /** Set by `stop()`: lanes start no further provider call (tick() also runs without the loop, in tests). */
  private stopping = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private readonly settings: VaultConfig['refresh'];

  constructor(
    private readonly store: OAuthCredentialStore,
    private readonly refresher: ConnectionRefresher,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'refresh'>,
  ) {
    this.settings = config.refresh;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    this.wake?.();
    // A call ends within its timeout (< lease) and its commit retries for at most the lease: this
    // bound is only reached when something hangs, and then the lease lets a successor take over.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2 * this.refresher.leaseDurationMs)));
    await Promise.race([this.loop, bound]).finally(() => clearTimeout(timer));
  }

  /** One claim-and-refresh pass; returns how many connections it claimed. */
  async tick(): Promise<number> {
    const { batchSize, concurrency } = this.settings;
    const batch = await this.store.claimDue(this.refresher.owner, this.refresher.leaseDurationMs, batchSize);
    let next = 0;
    const lane = async () => {
      while (next < batch.length && !this.stopping) {
        const c = batch[next++];
        await this.refresher
          .refreshClaimed(c)
          .catch((err) => this.log.warn(`refresh of a connection failed (${err instanceof Error ? err.name : 'error'})`));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, lane));
    // Stopping: rows not started are given back untouched (no call was made for them).
    const rest = batch.slice(next);
    await Promise.all(rest.map((c) => this.refresher.giveBack(c).catch(() => undefined)));
    return batch.length;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.tick();
        failures = 0;
      } catch (err) {
        // The database (ours): back off; no lease was taken, so no provider was called.
        failures += 1;
        if (failures === 1 || failures % 30 === 0)
          this.log.warn(`refresh claim failed (${err instanceof Error ? err.name : 'error'}); retrying`);
      }
      if (!this.running) break;
      if (claimed >= this.settings.batchSize) continue; // more are due: keep going
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
