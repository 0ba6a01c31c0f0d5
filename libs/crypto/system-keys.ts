import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { context } from './aead';
import { KeyProvider } from './key-provider';
import { bind, unbind } from './keyring';

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

  constructor(
    private readonly ds: DataSource,
    private readonly provider: KeyProvider,
  ) {}

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
    let rows = await this.ds.query(
      `SELECT version, kek_key_id, wrapped FROM system_keys WHERE purpose = $1 AND status = 'active' ORDER BY version DESC LIMIT 1`,
      [purpose],
    );
    if (!rows.length) {
      const key = randomBytes(32);
      const wrapped = await this.provider.wrap(bind(context('sys', purpose, 1), key));
      key.fill(0);
      await this.ds.query(`INSERT INTO system_keys (purpose, version, kek_key_id, wrapped) VALUES ($1, 1, $2, $3) ON CONFLICT DO NOTHING`, [
        purpose,
        wrapped.keyId,
        wrapped.wrapped,
      ]);
      rows = await this.ds.query(
        `SELECT version, kek_key_id, wrapped FROM system_keys WHERE purpose = $1 AND status = 'active' ORDER BY version DESC LIMIT 1`,
        [purpose],
      );
    }
    const row = rows[0] as { version: number; kek_key_id: string; wrapped: Buffer };
    return unbind(context('sys', purpose, row.version), await this.provider.unwrap(row.kek_key_id, row.wrapped));
  }
}
