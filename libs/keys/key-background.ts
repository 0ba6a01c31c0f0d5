import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { KEY_PROVIDER, KeyProvider } from '../crypto';
import { KeyJobRunner } from './key-job.runner';
import { KeyScheduler } from './key-scheduler';
import { TenantKeyCacheSync } from './tenant-key-cache-sync';

export interface KeysModuleOptions {
  /** Lease and run key jobs, and schedule automatic rotations (the worker; the API on the embedded default). */
  runJobs: boolean;
  /** Keep this process's key caches in step with the others (long-running processes; not the CLI). */
  background: boolean;
}

export const KEYS_OPTIONS = Symbol('KEYS_OPTIONS');

/** Starts and stops the periodic key duties of a process. */
@Injectable()
export class KeyBackgroundTasks implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('KeyBackgroundTasks');
  private readonly timers: NodeJS.Timeout[] = [];
  /** The runs in flight: shutdown waits for them, so none issues a statement after the pool's end. */
  private readonly running = new Set<Promise<void>>();
  /** Aborted at shutdown: a long duty (the scheduler's housekeeping) stops at its next safe point. */
  private readonly stopping = new AbortController();
  private stopped = false;

  constructor(
    @Inject(KEYS_OPTIONS) private readonly opts: KeysModuleOptions,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'keys'>,
    @Inject(KEY_PROVIDER) private readonly provider: KeyProvider,
    private readonly runner: KeyJobRunner,
    private readonly scheduler: KeyScheduler,
    private readonly cacheSync: TenantKeyCacheSync,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.opts.background) return;
    const k = this.config.keys;
    this.every('tenant key cache sync', k.cacheSyncMs, () => this.cacheSync.sync());
    // Picks up a KEK version made elsewhere, so new tenant keys are wrapped by it.
    this.every('KEK refresh', k.providerRefreshMs, () => this.provider.refresh());
    if (this.opts.runJobs) {
      this.runner.start();
      this.every('key scheduler', k.schedulerIntervalMs, () => this.scheduler.tick(this.stopping.signal), true);
    }
  }

  /**
   * A run caught mid-way finishes here, its statements and audit records included: every
   * `beforeApplicationShutdown` completes before the pool closes (`onApplicationShutdown`).
   * Clearing the timers alone let it go on after the pool's end (a key destroyed, its audit lost).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    for (const t of this.timers) clearTimeout(t);
    await Promise.all([this.runner.stop(), ...this.running]);
  }

  /** Runs `fn` every `ms` (never overlapping itself); failures are logged by name only. */
  private every(name: string, ms: number, fn: () => Promise<unknown>, immediately = false): void {
    const run = async () => {
      try {
        await fn();
      } catch (err) {
        this.log.warn(`${name} failed (${(err as Error)?.name ?? 'Error'})`);
      }
      if (!this.stopped) this.schedule(run, ms);
    };
    this.schedule(run, immediately ? 0 : ms);
  }

  private schedule(run: () => Promise<void>, ms: number): void {
    // Fire-and-forget on a timer: run() catches and logs its job's failure, then reschedules itself.
    const t = setTimeout(() => {
      if (this.stopped) return;
      const p = run();
      this.running.add(p);
      void p.finally(() => this.running.delete(p));
    }, ms);
    t.unref();
    this.timers.push(t);
    if (this.timers.length > 16) this.timers.splice(0, this.timers.length - 16);
  }
}
