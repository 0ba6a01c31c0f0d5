import { Global, Inject, Logger, Module, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { KEY_PROVIDER, KeyProvider, KeyProviderUnavailableError } from './key-provider';
import { Keyring } from './keyring';
import { createKeyProvider } from './key-provider.factory';
import { SealedFields } from './sealed-fields';
import { SystemKeyStore } from './system-key-store';
import { SystemKeys } from './system-keys';
import { TenantKeyStore } from './tenant-key-store';

@Global()
@Module({
  providers: [
    { provide: KEY_PROVIDER, inject: [VAULT_CONFIG], useFactory: (c: VaultConfig) => createKeyProvider(c) },
    {
      provide: Keyring,
      inject: [DataSource, KEY_PROVIDER, VAULT_CONFIG],
      useFactory: (ds: DataSource, p: KeyProvider, c: VaultConfig) =>
        new Keyring(ds, p, {
          cacheSize: c.tenantKeyCache.size,
          cacheMaxAgeMs: c.tenantKeyCache.maxAgeMs,
          writeHealthTtlMs: c.keyHealthTtlMs,
          maxEncryptionsPerKey: 2 ** 30,
        }),
    },
    { provide: SealedFields, inject: [Keyring], useFactory: (k: Keyring) => new SealedFields(k) },
    { provide: SystemKeys, inject: [DataSource, KEY_PROVIDER], useFactory: (ds: DataSource, p: KeyProvider) => new SystemKeys(ds, p) },
    // The stores of the key tables, for the key jobs and key status (libs/keys).
    { provide: TenantKeyStore, inject: [DataSource], useFactory: (ds: DataSource) => new TenantKeyStore(ds) },
    { provide: SystemKeyStore, inject: [DataSource], useFactory: (ds: DataSource) => new SystemKeyStore(ds) },
  ],
  exports: [KEY_PROVIDER, Keyring, SealedFields, SystemKeys, TenantKeyStore, SystemKeyStore],
})
export class CryptoModule implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger('key-provider');
  private retry?: NodeJS.Timeout;
  private stopped = false;
  /** Key Vault's latest Retry-After during boot retries: the next attempt waits at least that. */
  private retryAfterMs = 0;
  private unsubscribe?: () => void;

  constructor(
    @Inject(KEY_PROVIDER) private readonly provider: KeyProvider,
    private readonly keyring: Keyring,
  ) {}

  /**
   * Loads the KEK. Key Vault down or throttling at boot (SECURITY 48) does not end the process: it
   * starts not ready (readiness 503, anything needing a key refused with 503) and retries in the
   * background with backoff, never sooner than Key Vault's last Retry-After. A misconfigured KEK
   * (not RSA, disabled, no unwrapKey) still refuses to start.
   */
  async onModuleInit(): Promise<void> {
    this.unsubscribe = this.provider.onThrottle?.((ms) => (this.retryAfterMs = Math.max(this.retryAfterMs, ms)));
    try {
      await this.provider.init();
      this.keyring.markProviderReady();
    } catch (err) {
      if (!(err instanceof KeyProviderUnavailableError)) throw err;
      this.keyring.markProviderStarting();
      this.log.warn(`key provider unavailable at boot (${err.throttled ? 'throttled' : 'unreachable'}); not ready, retrying`);
      this.scheduleInit(1);
    }
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.unsubscribe?.();
    this.keyring.stopProbe();
  }

  private scheduleInit(attempt: number): void {
    const delay = Math.max(backoffMs(attempt), this.retryAfterMs);
    this.retryAfterMs = 0;
    this.retry = setTimeout(() => {
      if (this.stopped) return;
      // A load that lands after shutdown began starts nothing: marking the provider ready would start
      // the keyring's health probe again (stopped at shutdown), probing Key Vault for the process's life.
      this.provider.init().then(
        () => {
          if (this.stopped) return;
          this.keyring.markProviderReady();
          this.log.log(`key provider ready after ${attempt} retries`);
        },
        (err: unknown) => {
          if (this.stopped) return;
          if (!(err instanceof KeyProviderUnavailableError))
            this.log.error(`key provider misconfigured (${err instanceof Error ? err.message : 'error'}); not ready`);
          else this.scheduleInit(attempt + 1);
        },
      );
    }, delay);
    this.retry.unref();
  }
}

/** 1 s doubling to 30 s, with equal jitter: replicas started together do not retry together. */
function backoffMs(attempt: number): number {
  const exp = Math.min(30_000, 1000 * 2 ** Math.min(10, attempt - 1));
  return exp / 2 + Math.random() * (exp / 2);
}
