import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** A `signing_keys` row as `PUBLISHED` selects it: the one row type of the table. */
interface SigningKeyRow {
  kid: string;
  public_jwk: Record<string, unknown>;
  status: 'active' | 'previous';
  rotated_at: Date | null;
  /** Only an active key's (a demoted key's private half is erased). */
  private_key_sealed: Buffer | null;
}

/** A published signing key as the token service reads it. */
export interface StoredSigningKey {
  kid: string;
  publicJwk: Record<string, unknown>;
  status: 'active' | 'previous';
  rotatedAt: Date | null;
  privateKeySealed: Buffer | null;
}

/** A new key to store as the active one: its public JWK and its sealed PKCS#8. */
export interface NewSigningKey {
  kid: string;
  alg: string;
  jwk: Record<string, unknown>;
  sealed: Buffer;
}

const PUBLISHED = `SELECT kid, public_jwk, status, rotated_at, CASE WHEN status = 'active' THEN private_key_sealed END AS private_key_sealed
  FROM signing_keys WHERE status IN ('active', 'previous') ORDER BY created_at DESC`;
const INSERT_ACTIVE = `INSERT INTO signing_keys (kid, alg, public_jwk, private_key_sealed, status) VALUES ($1, $2, $3, $4, 'active')`;

/** SQL of `signing_keys`: at most one `active` key (a partial unique index), `previous` ones verify-only. */
@Injectable()
export class SigningKeyStore {
  constructor(private readonly ds: DataSource) {}

  /** The active key and the previous ones, newest first. */
  async published(): Promise<StoredSigningKey[]> {
    return ((await this.ds.query(PUBLISHED)) as SigningKeyRow[]).map(toStoredKey);
  }

  /** Stores `key` as the active one unless there is one already (two replicas may race: the unique index lets one win). */
  async insertFirst(key: NewSigningKey): Promise<void> {
    await this.ds.query(`${INSERT_ACTIVE} ON CONFLICT DO NOTHING`, params(key));
  }

  /**
   * In one transaction (row locks, so safe across replicas): demotes the active key to `previous` (its private
   * half erased), retires previous keys demoted more than `overlapSeconds` ago, and stores `key` as the active
   * one. Answers the demoted key's kid.
   */
  async rotate(key: NewSigningKey, overlapSeconds: number): Promise<string | null> {
    return this.ds.transaction(async (m) => {
      const rows: Array<{ kid: string }> = await m.query(`SELECT kid FROM signing_keys WHERE status = 'active' FOR UPDATE`);
      await m.query(`UPDATE signing_keys SET status = 'previous', rotated_at = now(), private_key_sealed = '\\x' WHERE status = 'active'`);
      await m.query(
        `UPDATE signing_keys SET status = 'retired' WHERE status = 'previous' AND rotated_at < now() - make_interval(secs => $1::int)`,
        [overlapSeconds],
      );
      await m.query(INSERT_ACTIVE, params(key));
      return rows[0]?.kid ?? null;
    });
  }
}

function params(key: NewSigningKey): unknown[] {
  return [key.kid, key.alg, JSON.stringify(key.jwk), key.sealed];
}

/** The one mapper of a `signing_keys` row. */
function toStoredKey(r: SigningKeyRow): StoredSigningKey {
  return { kid: r.kid, publicJwk: r.public_jwk, status: r.status, rotatedAt: r.rotated_at, privateKeySealed: r.private_key_sealed };
}
