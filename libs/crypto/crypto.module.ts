import { Global, Inject, Module, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { KEY_PROVIDER, KeyProvider } from './key-provider';
import { Keyring } from './keyring';
import { createKeyProvider } from './key-provider.factory';
import { SealedFields } from './sealed-fields';
import { SystemKeys } from './system-keys';

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
  ],
  exports: [KEY_PROVIDER, Keyring, SealedFields, SystemKeys],
})
export class CryptoModule implements OnModuleInit {
  constructor(@Inject(KEY_PROVIDER) private readonly provider: KeyProvider) {}

  /** The KEK must be reachable at boot; otherwise the process refuses to start. */
  async onModuleInit(): Promise<void> {
    await this.provider.init();
  }
}
