import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { RecordRef, SealedFields } from '../crypto';
import { DomainError, Secret, TenantId } from '../kernel';
import type { ConnectionRow } from './connection-row';

const TABLE = 'derived_tokens';

/**
 * What a derived token is bound to: its row, the connection and scope set it was derived for, and
 * whose account on which integration that connection is (as the connection row says now): a
 * connection relabelled in place does not hand its cached narrowed tokens to the new label.
 */
function derivedRef(
  tenant: TenantId,
  id: string,
  o: { connectionId: string; scopeKey: string; subject: string; integration: string },
): RecordRef {
  return {
    tenant,
    table: TABLE,
    id,
    bind: { connection_id: o.connectionId, scope_key: o.scopeKey, subject: o.subject, integration: o.integration },
  };
}

/** A downscoped access token as the provider answered it. */
export interface DerivedToken {
  accessToken: Secret;
  scopes: string[];
  expiresAt: Date | null;
}

/** A cached row, still sealed. */
export interface SealedDerivedToken {
  id: string;
  connectionId: string;
  scopeKey: string;
  /** The connection's owner columns as they are now (joined): bound into the AAD. */
  subject: string;
  integration: string;
  scopes: string[];
  expiresAt: Date | null;
  dekWrapped: Buffer;
  accessTokenCt: Buffer;
}

/** A `derived_tokens` row as `find` reads it, with its connection's owner columns (joined, bound into the AAD). */
interface DerivedTokenRow {
  id: string;
  connection_id: string;
  scope_key: string;
  subject: string;
  integration: string;
  scopes: string[];
  expires_at: Date | null;
  dek_wrapped: Buffer;
  access_token_ct: Buffer;
}

/** The one mapper of a `derived_tokens` row. */
function toSealedDerived(r: DerivedTokenRow): SealedDerivedToken {
  return {
    id: r.id,
    connectionId: r.connection_id,
    scopeKey: r.scope_key,
    subject: r.subject,
    integration: r.integration,
    scopes: r.scopes,
    expiresAt: r.expires_at,
    dekWrapped: r.dek_wrapped,
    accessTokenCt: r.access_token_ct,
  };
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
    private readonly sealed: SealedFields,
    private readonly audit: AuditLog,
  ) {}

  async find(tenant: TenantId, connectionId: string, scopeKey: string): Promise<SealedDerivedToken | undefined> {
    const rows: DerivedTokenRow[] = await this.ds.query(
      `SELECT d.id, d.connection_id, d.scope_key, c.subject, c.integration, d.scopes, d.expires_at, d.dek_wrapped, d.access_token_ct FROM derived_tokens d
         JOIN connections c ON c.tenant = d.tenant AND c.id = d.connection_id
        WHERE d.tenant = $1 AND d.connection_id = $2 AND d.scope_key = $3 AND d.source_digest = sha256(c.refresh_token_ct)`,
      [tenant, connectionId, scopeKey],
    );
    return rows[0] ? toSealedDerived(rows[0]) : undefined;
  }

  /** The token, opened. Key errors propagate (`KeyUnwrapError`), alarmed and audited as `decrypt_failed`. */
  async open(tenant: TenantId, row: SealedDerivedToken): Promise<Buffer> {
    const alarm = {
      audit: this.audit,
      action: 'credential.release',
      subject: row.subject || undefined,
      integration: row.integration,
      details: { connection: row.connectionId },
    };
    return this.sealed.open(derivedRef(tenant, row.id, row), { dekWrapped: row.dekWrapped, ct: row.accessTokenCt }, 'access_token', alarm);
  }

  /**
   * Stores (or replaces) the token for this scope set, derived from the refresh token sealed as
   * `sourceCt`. Two processes deriving at once both hold valid tokens: the later write stands.
   */
  async put(tenant: TenantId, connectionId: string, scopeKey: string, sourceCt: Buffer, t: DerivedToken): Promise<void> {
    const digest = createHash('sha256').update(sourceCt).digest();
    const [owner]: Array<Pick<ConnectionRow, 'subject' | 'integration'>> = await this.ds.query(
      `SELECT subject, integration FROM connections WHERE tenant = $1 AND id = $2`,
      [tenant, connectionId],
    );
    if (!owner) throw new DomainError('connection_not_found', 'no connection for this user and integration');
    const id = randomUUID();
    const ref = derivedRef(tenant, id, { connectionId, scopeKey, ...owner });
    // The id is part of the AAD: a replaced row takes the new id with its new ciphertext.
    await this.sealed.write(ref, { access_token: Buffer.from(t.accessToken.reveal(), 'utf8') }, (sealed) =>
      this.ds.query(
        `INSERT INTO derived_tokens (id, tenant, connection_id, scope_key, scopes, source_digest, tk_version, dek_wrapped, access_token_ct, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant, connection_id, scope_key) DO UPDATE SET id = EXCLUDED.id, scopes = EXCLUDED.scopes, source_digest = EXCLUDED.source_digest,
           tk_version = EXCLUDED.tk_version, dek_wrapped = EXCLUDED.dek_wrapped, access_token_ct = EXCLUDED.access_token_ct,
           expires_at = EXCLUDED.expires_at, created_at = now()`,
        [
          id,
          tenant,
          connectionId,
          scopeKey,
          t.scopes,
          digest,
          sealed.tkVersion,
          sealed.dekWrapped,
          sealed.fields.access_token,
          t.expiresAt,
        ],
      ),
    );
    // Rows derived from an older refresh token are never released again: keep the table to the live ones.
    await this.ds.query(`DELETE FROM derived_tokens WHERE tenant = $1 AND connection_id = $2 AND source_digest <> $3`, [
      tenant,
      connectionId,
      digest,
    ]);
  }
}
