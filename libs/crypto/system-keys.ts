import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { context } from './aead';
import { KeyProvider } from './key-provider';
import { bind, unbind } from './keyring';
import { SystemKeyStore } from './system-key-store';

/**
 * Keys of the vault itself (the audit MAC key; token-signing keys later), random
 * 256-bit secrets wrapped by the KEK like tenant keys, unwrapped once per process.
 */
export class SystemKeys {
  /** Never print key material, connection strings or caches, whoever logs this object. */
  [inspect.custom](): string {
    return 'SystemKeys';
  }

  private readonly cache = new Map<string, Promise<Buffer>>();
  private readonly store: SystemKeyStore;

  constructor(
    ds: DataSource,
    private readonly provider: KeyProvider,
  ) {
    this.store = new SystemKeyStore(ds);
  }

  /** The active key for a purpose, created on first use (race-safe across replicas). */
  get(purpose: string): Promise<Buffer> {
    let p = this.cache.get(purpose);
    if (!p) {
      p = this.load(purpose);
      p.catch(() => this.cache.delete(purpose));
      this.cache.set(purpose, p);
    }
    return p;
  }

  private async load(purpose: string): Promise<Buffer> {
    let key = await this.store.active(purpose);
    if (!key) {
      const fresh = randomBytes(32);
      const wrapped = await this.provider.wrap(bind(context('sys', purpose, 1), fresh));
      fresh.fill(0);
      await this.store.createFirst(purpose, wrapped);
      key = await this.store.active(purpose);
      if (!key) throw new Error('system key creation failed');
    }
    return unbind(context('sys', purpose, key.version), await this.provider.unwrap(key.kekKeyId, key.wrapped));
  }
}
