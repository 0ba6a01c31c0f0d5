import { TenantId } from '../kernel';
import type { ConnectionStatus, ConnectionSummary } from './connection.store';

/**
 * A `connections` row as pg returns it: the one row type of the table, read only by its stores
 * (`ConnectionStore`, `OAuthCredentialStore`); everything else gets a `Connection` from them.
 * `version` is a bigint, which pg returns as text.
 */
export interface ConnectionRow {
  id: string;
  tenant: string;
  integration: string;
  subject: string;
  kind: 'oauth2' | 'api_key';
  status: ConnectionStatus;
  version: string | number;
  tk_version: number;
  dek_wrapped: Buffer;
  access_token_ct: Buffer | null;
  refresh_token_ct: Buffer | null;
  api_key_ct: Buffer | null;
  expires_at: Date | null;
  scopes: string[] | null;
  metadata: Record<string, unknown> | null;
  provider_account_id: string | null;
  provider_account_email: string | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  next_refresh_at: Date | null;
  last_refresh_at: Date | null;
  last_error_class: string | null;
  refresh_failures: number | null;
  interrupted_owner: string | null;
  refresh_call_started_at: Date | null;
  token_issued_at: Date | null;
  previous_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The columns `toConnection` reads, in `ConnectionRow`'s order (previous_api_key_ct is never read back: it is only destroyed). */
export const CONNECTION_COLUMN_LIST = [
  'id',
  'tenant',
  'integration',
  'subject',
  'kind',
  'status',
  'version',
  'tk_version',
  'dek_wrapped',
  'access_token_ct',
  'refresh_token_ct',
  'api_key_ct',
  'expires_at',
  'scopes',
  'metadata',
  'provider_account_id',
  'provider_account_email',
  'lease_owner',
  'lease_expires_at',
  'next_refresh_at',
  'last_refresh_at',
  'last_error_class',
  'refresh_failures',
  'interrupted_owner',
  'refresh_call_started_at',
  'token_issued_at',
  'previous_expires_at',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof ConnectionRow>;

/** `CONNECTION_COLUMN_LIST` for a select list, optionally qualified by a table alias. */
export const connectionColumns = (alias?: string): string => CONNECTION_COLUMN_LIST.map((c) => (alias ? `${alias}.${c}` : c)).join(', ');

/** A connection as its stores hand it out: metadata, refresh state and the sealed fields (still sealed). */
export interface Connection extends ConnectionSummary {
  tenant: TenantId;
  /** The stored user column ('' for a tenant-level connection): bound into the AAD. */
  subject: string;
  tkVersion: number;
  dekWrapped: Buffer;
  accessTokenCt: Buffer | null;
  refreshTokenCt: Buffer | null;
  apiKeyCt: Buffer | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  /** Set with `refresh_indeterminate` after a takeover: the refresher that was interrupted. */
  interruptedOwner: string | null;
  /**
   * When a refresher last told the row it was about to call the provider, and the call's outcome is
   * not known yet (the earliest such call): only then can the stored refresh token have been rotated.
   */
  callStartedAt: Date | null;
  /** When the stored access token was issued (null: written before this was recorded). */
  tokenIssuedAt: Date | null;
}

/** The one mapper of a `connections` row. */
export function toConnection(r: ConnectionRow): Connection {
  const tenantLevel = r.subject === '';
  return {
    id: r.id,
    tenant: r.tenant as TenantId,
    integration: r.integration,
    subject: r.subject,
    user: tenantLevel ? null : r.subject,
    level: tenantLevel ? 'tenant' : 'user',
    kind: r.kind,
    status: r.status,
    version: Number(r.version),
    scopes: r.scopes ?? [],
    expiresAt: r.expires_at ?? null,
    metadata: r.metadata ?? {},
    providerAccountId: r.provider_account_id ?? null,
    providerAccountEmail: r.provider_account_email ?? null,
    lastRefreshAt: r.last_refresh_at ?? null,
    nextRefreshAt: r.next_refresh_at ?? null,
    lastErrorClass: r.last_error_class ?? null,
    refreshFailures: Number(r.refresh_failures ?? 0),
    previousExpiresAt: r.previous_expires_at ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    tkVersion: r.tk_version,
    dekWrapped: r.dek_wrapped,
    accessTokenCt: r.access_token_ct ?? null,
    refreshTokenCt: r.refresh_token_ct ?? null,
    apiKeyCt: r.api_key_ct ?? null,
    leaseOwner: r.lease_owner ?? null,
    leaseExpiresAt: r.lease_expires_at ?? null,
    interruptedOwner: r.interrupted_owner ?? null,
    callStartedAt: r.refresh_call_started_at ?? null,
    tokenIssuedAt: r.token_issued_at ?? null,
  };
}

/** The metadata of a connection, without its sealed fields or refresh internals (what admin listings show). */
export function summaryOf(c: Connection): ConnectionSummary {
  const { id, integration, user, level, kind, status, version, scopes, expiresAt, metadata, providerAccountId, providerAccountEmail } = c;
  const { lastRefreshAt, nextRefreshAt, lastErrorClass, refreshFailures, previousExpiresAt, createdAt, updatedAt } = c;
  return {
    id,
    integration,
    user,
    level,
    kind,
    status,
    version,
    scopes,
    expiresAt,
    metadata,
    providerAccountId,
    providerAccountEmail,
    lastRefreshAt,
    nextRefreshAt,
    lastErrorClass,
    refreshFailures,
    previousExpiresAt,
    createdAt,
    updatedAt,
  };
}
