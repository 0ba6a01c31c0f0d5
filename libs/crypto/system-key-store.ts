import { DataSource } from 'typeorm';
import type { WrappedKey } from './key-provider';

/** A key of the vault itself (audit MAC key, …) as stored: wrapped by the KEK. */
export interface SystemKey {
  purpose: string;
  version: number;
  kekKeyId: string;
  wrapped: Buffer;
  status: 'active' | 'decrypt_only' | 'destroyed';
}

/** A `system_keys` row: the one row type of the table. */
interface SystemKeyRow {
  purpose: string;
  version: number;
  kek_key_id: string;
  wrapped: Buffer;
  status: SystemKey['status'];
}

const COLUMNS = 'purpose, version, kek_key_id, wrapped, status';

/** The one mapper of a `system_keys` row. */
function toSystemKey(r: SystemKeyRow): SystemKey {
  return { purpose: r.purpose, version: Number(r.version), kekKeyId: r.kek_key_id, wrapped: r.wrapped, status: r.status };
}

/** All SQL of `system_keys`. */
export class SystemKeyStore {
  constructor(private readonly ds: DataSource) {}

  /** The newest active key of a purpose. */
  async active(purpose: string): Promise<SystemKey | undefined> {
    const rows: SystemKeyRow[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM system_keys WHERE purpose = $1 AND status = 'active' ORDER BY version DESC LIMIT 1`,
      [purpose],
    );
    return rows[0] ? toSystemKey(rows[0]) : undefined;
  }

  /** Version 1 of a purpose, unless a concurrent creator was first. */
  async createFirst(purpose: string, key: WrappedKey): Promise<void> {
    await this.ds.query(`INSERT INTO system_keys (purpose, version, kek_key_id, wrapped) VALUES ($1, 1, $2, $3) ON CONFLICT DO NOTHING`, [
      purpose,
      key.keyId,
      key.wrapped,
    ]);
  }

  /** Live keys under another KEK version than `kekKeyId`, after `after` (purpose, version), in that order. */
  async notUnderKek(kekKeyId: string, after: [string, number], limit: number): Promise<SystemKey[]> {
    const rows: SystemKeyRow[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM system_keys
        WHERE kek_key_id <> $1 AND status <> 'destroyed' AND (purpose, version) > ($2, $3)
        ORDER BY purpose, version LIMIT $4`,
      [kekKeyId, after[0], after[1], limit],
    );
    return rows.map(toSystemKey);
  }

  /** How many live keys are under another KEK version than `kekKeyId`. */
  async countNotUnderKek(kekKeyId: string): Promise<number> {
    const [{ n }] = await this.ds.query(`SELECT count(*) AS n FROM system_keys WHERE kek_key_id <> $1 AND status <> 'destroyed'`, [
      kekKeyId,
    ]);
    return Number(n);
  }

  /** Live keys per KEK version. */
  async countByKek(): Promise<Array<{ kekKeyId: string; keys: number }>> {
    const rows: Array<{ kek_key_id: string; n: string }> = await this.ds.query(
      `SELECT kek_key_id, count(*) AS n FROM system_keys WHERE status <> 'destroyed' GROUP BY kek_key_id ORDER BY kek_key_id`,
    );
    return rows.map((r) => ({ kekKeyId: r.kek_key_id, keys: Number(r.n) }));
  }

  /** Replaces a key's wrapping if it is still the one read (compare-and-set) and the key is not destroyed. */
  async replaceWrapping(key: Pick<SystemKey, 'purpose' | 'version' | 'kekKeyId' | 'wrapped'>, next: WrappedKey): Promise<void> {
    await this.ds.query(
      `UPDATE system_keys SET kek_key_id = $1, wrapped = $2
        WHERE purpose = $3 AND version = $4 AND kek_key_id = $5 AND wrapped = $6 AND status <> 'destroyed'`,
      [next.keyId, next.wrapped, key.purpose, key.version, key.kekKeyId, key.wrapped],
    );
  }
}
