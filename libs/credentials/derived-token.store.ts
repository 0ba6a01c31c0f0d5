import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Keyring } from '../crypto';
import { Secret, TenantId } from '../kernel';

const TABLE = 'derived_tokens';
const RETIRED_KEY_VERSION = 'VK001';

/** A downscoped access token as the provider answered it. */
export interface DerivedToken {
  accessToken: Secret;
  scopes: string[];
  expiresAt: Date | null;
}

/** A cached row, still sealed. */
export interface SealedDerivedToken {
  id: string;
  scopes: string[];
  expiresAt: Date | null;
  dekWrapped: Buffer;
  accessTokenCt: Buffer;
}

/**
 * Downscoped access tokens, sealed, one per (connection, scope set). A row counts only while the
 * connection still holds the refresh token it was derived from (`source_digest`): after a reconnect
 * or a refresh commit of the connection it is stale, and derived again.
 */
@Injectable()
export class DerivedTokenStore {
  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
  ) {}

  async find(tenant: TenantId, connectionId: string, scopeKey: string): Promise<SealedDerivedToken | undefined> {
    const rows = await this.ds.query(
      `SELECT d.id, d.scopes, d.expires_at, d.dek_wrapped, d.access_token_ct FROM derived_tokens d
         JOIN connections c ON c.tenant = d.tenant AND c.id = d.connection_id
        WHERE d.tenant = $1 AND d.connection_id = $2 AND d.scope_key = $3 AND d.source_digest = sha256(c.refresh_token_ct)`,
      [tenant, connectionId, scopeKey],
    );
    const r = rows[0];
    return r ? { id: r.id, scopes: r.scopes, expiresAt: r.expires_at, dekWrapped: r.dek_wrapped, accessTokenCt: r.access_token_ct } : undefined;
  }

  /** The token, opened. Key errors propagate (`KeyUnwrapError`). */
  async open(tenant: TenantId, row: SealedDerivedToken): Promise<Buffer> {
    return this.keyring.open({ tenant, table: TABLE, id: row.id }, row.dekWrapped, 'access_token', row.accessTokenCt);
  }

  /**
   * Stores (or replaces) the token for this scope set, derived from the refresh token sealed as
   * `sourceCt`. Two processes deriving at once both hold valid tokens: the later write stands.
   */
  async put(tenant: TenantId, connectionId: string, scopeKey: string, sourceCt: Buffer, t: DerivedToken): Promise<void> {
    const digest = createHash('sha256').update(sourceCt).digest();
    for (let attempt = 0; ; attempt++) {
      const id = randomUUID();
      const plain = Buffer.from(t.accessToken.reveal(), 'utf8');
      let sealed;
      try {
        sealed = await this.keyring.seal({ tenant, table: TABLE, id }, { access_token: plain });
      } finally {
        plain.fill(0);
      }
      try {
        // The id is part of the AAD: a replaced row takes the new id with its new ciphertext.
        await this.ds.query(
          `INSERT INTO derived_tokens (id, tenant, connection_id, scope_key, scopes, source_digest, tk_version, dek_wrapped, access_token_ct, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (tenant, connection_id, scope_key) DO UPDATE SET id = EXCLUDED.id, scopes = EXCLUDED.scopes, source_digest = EXCLUDED.source_digest,
             tk_version = EXCLUDED.tk_version, dek_wrapped = EXCLUDED.dek_wrapped, access_token_ct = EXCLUDED.access_token_ct,
             expires_at = EXCLUDED.expires_at, created_at = now()`,
          [id, tenant, connectionId, scopeKey, t.scopes, digest, sealed.tkVersion, sealed.dekWrapped, sealed.fields.access_token, t.expiresAt],
        );
        // Rows derived from an older refresh token are never released again: keep the table to the live ones.
        await this.ds.query(`DELETE FROM derived_tokens WHERE tenant = $1 AND connection_id = $2 AND source_digest <> $3`, [tenant, connectionId, digest]);
        return;
      } catch (err) {
        // Sealed under a tenant key retired meanwhile (a rotation just finished): seal again.
        if (attempt >= 2 || !isRetiredKeyVersion(err)) throw err;
      }
    }
  }
}

function isRetiredKeyVersion(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  return e?.code === RETIRED_KEY_VERSION || e?.driverError?.code === RETIRED_KEY_VERSION;
}
