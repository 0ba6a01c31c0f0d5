import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { ensureTenant } from '../db';
import { TenantId } from '../kernel';
import { ClientDocumentError, ClientMetadataDocuments, isDocumentClientId } from './client-metadata-documents';
import { redirectUriProblem } from './redirect-uris';

/** An OAuth client of the authorization endpoint: every one is public and none is verified by the tenant. */
export interface OAuthClientInfo {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
  /** How it is known: registered (RFC 7591) or by its metadata document's URL. */
  kind: 'registered' | 'document';
}

/** An RFC 7591 §3.2.2 error (or 429/403), answered as JSON `{error, error_description}`. */
export class RegistrationError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly retryAfter?: number,
  ) {
    super(`${error}: ${description}`);
  }
}

/** A client that cannot be used: the message is public. */
export class UnknownClientError extends Error {}

/** Registrations per IP: a burst of 5, then one a minute (a flood answers 429). */
const DCR_BURST = 5;
const DCR_REFILL_MS = 60_000;
/** Registered clients per tenant: a flood from many addresses still cannot grow the table without end. */
const MAX_CLIENTS_PER_TENANT = 10_000;

/**
 * Clients of the authorization endpoint. Dynamic Client Registration (RFC 7591) for public
 * clients where the tenant allows it (`OAUTH_DCR_TENANTS`), rate limited per IP and audited;
 * clients unused for `OAUTH_CLIENT_UNUSED_DAYS` expire. A `client_id` that is a URL is a Client
 * ID Metadata Document, fetched and checked on use instead.
 */
@Injectable()
export class ClientRegistry {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ds: DataSource,
    private readonly documents: ClientMetadataDocuments,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  dcrEnabled(tenant: TenantId): boolean {
    const t = this.config.authorizationServer.dcrTenants;
    return t.includes('*') || t.includes(tenant);
  }

  async register(tenant: TenantId, ip: string, body: unknown): Promise<Record<string, unknown>> {
    if (!this.dcrEnabled(tenant)) throw new RegistrationError(403, 'access_denied', 'dynamic client registration is off for this tenant');
    const meta = checkMetadata(body);
    // Counted once the request is well formed: only registrations write rows.
    this.limit(ip);
    const clientId = `dcr_${randomBytes(16).toString('base64url')}`;
    await ensureTenant(this.ds, tenant);
    // Clients nobody used for the configured days go when a new one comes (bounded batch).
    await this.ds.query(
      `DELETE FROM oauth_clients WHERE ctid IN (SELECT ctid FROM oauth_clients WHERE last_used_at < now() - make_interval(days => $1) LIMIT 100)`,
      [this.config.authorizationServer.clientUnusedDays],
    );
    const inserted: unknown[] = await this.ds.query(
      `INSERT INTO oauth_clients (tenant, client_id, client_name, redirect_uris)
       SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM oauth_clients WHERE tenant = $1) < $5 RETURNING 1`,
      [tenant, clientId, meta.client_name, meta.redirect_uris, MAX_CLIENTS_PER_TENANT],
    );
    if (!inserted.length)
      throw new RegistrationError(429, 'rate_limited', 'this tenant has too many registered clients; retry later', 3600);
    // After the row (its id is not known to anyone before the response): an audit failure answers 503 and the client stays unused.
    await this.audit.record({
      tenant,
      action: 'oauth_client.register',
      outcome: 'allowed',
      details: { client_id: clientId, client_name: meta.client_name, redirect_uris: meta.redirect_uris },
    });
    return {
      client_id: clientId,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      client_name: meta.client_name,
      redirect_uris: meta.redirect_uris,
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    };
  }

  /** The client, or `UnknownClientError` saying why it cannot be used. A registered client's use keeps it alive. */
  async resolve(tenant: TenantId, clientId: string): Promise<OAuthClientInfo> {
    if (isDocumentClientId(clientId)) {
      try {
        return { ...(await this.documents.get(clientId)), kind: 'document' };
      } catch (err) {
        if (err instanceof ClientDocumentError) throw new UnknownClientError(err.message);
        throw err;
      }
    }
    const [rows] = (await this.ds.query(
      `UPDATE oauth_clients SET last_used_at = now()
        WHERE tenant = $1 AND client_id = $2 AND last_used_at > now() - make_interval(days => $3)
        RETURNING client_id, client_name, redirect_uris`,
      [tenant, clientId, this.config.authorizationServer.clientUnusedDays],
    )) as [Array<{ client_id: string; client_name: string; redirect_uris: string[] }>, number];
    if (!rows[0]) throw new UnknownClientError('client_id is not a registered client of this tenant (or it expired unused)');
    return { ...rows[0], kind: 'registered' };
  }

  private limit(ip: string): void {
    const now = Date.now();
    const b = this.buckets.get(ip) ?? { tokens: DCR_BURST, at: now };
    b.tokens = Math.min(DCR_BURST, b.tokens + (now - b.at) / DCR_REFILL_MS);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(ip, b);
      throw new RegistrationError(
        429,
        'rate_limited',
        'too many registrations; retry later',
        Math.ceil(((1 - b.tokens) * DCR_REFILL_MS) / 1000),
      );
    }
    b.tokens -= 1;
    if (this.buckets.size > 10_000) this.buckets.clear();
    this.buckets.set(ip, b);
  }
}

/** RFC 7591 §2 metadata a public client may register; anything else asked for is refused, not ignored. */
function checkMetadata(body: unknown): { client_name: string; redirect_uris: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new RegistrationError(400, 'invalid_client_metadata', 'the body must be a JSON object');
  const b = body as Record<string, unknown>;
  const uris = b.redirect_uris;
  if (!Array.isArray(uris) || !uris.length || uris.length > 20)
    throw new RegistrationError(400, 'invalid_redirect_uri', 'redirect_uris must list 1 to 20 URIs');
  for (const u of uris) {
    const problem = redirectUriProblem(u);
    if (problem) throw new RegistrationError(400, 'invalid_redirect_uri', `redirect_uri ${problem}`);
  }
  const auth = b.token_endpoint_auth_method ?? 'none';
  if (auth !== 'none')
    throw new RegistrationError(
      400,
      'invalid_client_metadata',
      'only public clients are registered: token_endpoint_auth_method must be "none"',
    );
  const grants = (b.grant_types ?? ['authorization_code']) as unknown;
  if (!Array.isArray(grants) || !grants.every((g) => g === 'authorization_code' || g === 'refresh_token'))
    throw new RegistrationError(400, 'invalid_client_metadata', 'grant_types may be authorization_code and refresh_token only');
  const types = (b.response_types ?? ['code']) as unknown;
  if (!Array.isArray(types) || !types.every((t) => t === 'code'))
    throw new RegistrationError(400, 'invalid_client_metadata', 'response_types may be code only');
  const name = b.client_name;
  if (name !== undefined && (typeof name !== 'string' || name.length > 100))
    throw new RegistrationError(400, 'invalid_client_metadata', 'client_name must be a string of at most 100 characters');
  return { client_name: (typeof name === 'string' && name.trim()) || 'Unnamed client', redirect_uris: [...new Set(uris as string[])] };
}
