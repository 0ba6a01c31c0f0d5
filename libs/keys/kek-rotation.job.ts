import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { KEY_PROVIDER, KeyProvider, KeyProviderUnavailableError, keysNotUnderKek, rewrapOntoCurrentKek } from '../crypto';
import { KeyJob, KeyJobFailure } from './key-job';
import { KeyJobContext, KeyJobHandler, KeyJobOutcome } from './key-job.runner';
import { RequestBudget } from './request-budget';

/** Consecutive unavailable answers for one key before the job gives itself back to the queue. */
const MAX_ATTEMPTS_PER_KEY = 8;
const MAX_PASSES = 5;

/**
 * KEK rotation: optionally creates a new KEK version (Key Vault `rotateKey`, or the local
 * file), picks up the current version, and rewraps every tenant and system key onto it —
 * one remote unwrap per key within the configured request budget (KEY_ROTATION_KV_RPS),
 * slowing down on 429 / Retry-After and carrying on. Records are never touched. Resumable:
 * the version it created is checkpointed, and each key is moved by its own compare-and-set.
 */
@Injectable()
export class KekRotationJob implements KeyJobHandler {
  readonly kind = 'kek_rotate' as const;

  constructor(
    private readonly ds: DataSource,
    @Inject(KEY_PROVIDER) private readonly provider: KeyProvider,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'keys'>,
  ) {}

  async run(job: KeyJob, ctx: KeyJobContext): Promise<KeyJobOutcome> {
    if (job.params.create_version && !job.params.created_key_id) {
      if (!this.provider.rotate) throw new KeyJobFailure('not_supported', 'this key provider cannot create KEK versions');
      await ctx.checkpoint({ created_key_id: await this.provider.rotate() });
    }
    const budget = new RequestBudget(this.config.keys.kvRps);
    const unsubscribe = this.provider.onThrottle?.((ms) => budget.throttled(ms));
    try {
      let done = job.done;
      let total = job.done;
      let failed = 0;
      let currentKeyId = '';
      for (let pass = 0; pass < MAX_PASSES; pass++) {
        await budget.acquire(ctx.signal);
        currentKeyId = await this.provider.refresh();
        const remaining = await this.remaining(currentKeyId);
        total = done + remaining;
        ctx.progress(done, total);
        if (remaining <= failed) break;
        const base = done;
        const result = await rewrapOntoCurrentKek(this.ds, this.provider, {
          currentKeyId,
          batchSize: 100,
          concurrency: this.config.keys.kvConcurrency,
          signal: ctx.signal,
          beforeCall: () => budget.acquire(ctx.signal),
          onProgress: (n) => {
            budget.succeeded();
            ctx.progress(base + n, total);
          },
          onUnavailable: async (err, attempt) => this.backOff(err, attempt, budget, ctx.signal),
        });
        done += result.rewrapped;
        failed = result.failed;
        if (result.remaining <= result.failed) break;
      }
      if (failed > 0) throw new KeyJobFailure('key_unwrap_failed', `${failed} keys did not unwrap; they were left as they are`);
      return { done, total: Math.max(total, done), details: { key_id: currentKeyId, throttled: budget.throttles } };
    } finally {
      unsubscribe?.();
    }
  }

  /** Slow down and try the same key again; past the limit, give the job back (it resumes later). */
  private async backOff(err: KeyProviderUnavailableError, attempt: number, budget: RequestBudget, signal: AbortSignal): Promise<void> {
    if (attempt >= MAX_ATTEMPTS_PER_KEY) throw err;
    budget.throttled(0);
    await sleep(Math.min(30_000, 250 * 2 ** attempt), undefined, { signal });
  }

  private remaining(currentKeyId: string): Promise<number> {
    return keysNotUnderKek(this.ds, currentKeyId);
  }
}
