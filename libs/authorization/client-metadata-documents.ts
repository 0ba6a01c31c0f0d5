import { Inject, Injectable } from '@nestjs/common';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { OutboundError, OutboundPolicy, ProviderHttpClient } from '../oauth';
import { redirectUriProblem } from './redirect-uris';

/** A client known by its metadata document (draft-ietf-oauth-client-id-metadata-document). */
export interface DocumentClient {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
}

/** The MCP specification suggests 5 KiB; a document is a handful of fields. */
export const CIMD_MAX_BYTES = 5 * 1024;
const TIMEOUT_MS = 5000;
const DEFAULT_CACHE_SECONDS = 300;
const MAX_CACHE_SECONDS = 86_400;
const MAX_CACHED = 1000;

/** Thrown for a document the vault will not use; the message is public (it names what is wrong, not the body). */
export class ClientDocumentError extends Error {}

/** Whether `clientId` is meant as a metadata document URL (an https URL with a path, RFC-style). */
export function isDocumentClientId(clientId: string): boolean {
  return /^https?:\/\//i.test(clientId);
}

/**
 * Fetches and checks Client ID Metadata Documents through the SSRF-safe outbound client: no
 * redirects followed, private addresses refused (unless the operator allowlisted the host, which
 * also admits plain http for local development), a size cap, a timeout. Valid documents are cached
 * as their HTTP caching headers say (`no-store`: not at all; otherwise `max-age`, at most a day).
 */
@Injectable()
export class ClientMetadataDocuments {
  private readonly http: ProviderHttpClient;
  private readonly cache = new Map<string, { client: DocumentClient; until: number }>();

  constructor(policy: OutboundPolicy, @Inject(VAULT_CONFIG) config: VaultConfig) {
    this.http = new ProviderHttpClient(policy, {
      timeoutMs: Math.min(TIMEOUT_MS, config.outbound.timeoutMs),
      maxResponseBytes: CIMD_MAX_BYTES,
    });
  }

  async get(clientId: string): Promise<DocumentClient> {
    const hit = this.cache.get(clientId);
    if (hit && hit.until > Date.now()) return hit.client;
    const url = checkUrl(clientId);
    if (url.protocol === 'http:' && !this.http.policy.allowsPlainHttp(url.hostname))
      throw new ClientDocumentError('client_id must be an https URL');
    let res;
    try {
      res = await this.http.request({ method: 'GET', url: clientId, headers: { accept: 'application/json' } });
    } catch (err) {
      if (err instanceof OutboundError) throw new ClientDocumentError(documentFailure(err.kind));
      throw err;
    }
    if (res.status >= 300 && res.status < 400)
      throw new ClientDocumentError('the client metadata document redirects; it must be served directly');
    if (res.status !== 200) throw new ClientDocumentError(`the client metadata document could not be fetched (HTTP ${res.status})`);
    const client = parseDocument(clientId, res.body);
    const seconds = cacheSeconds(String(res.headers['cache-control'] ?? ''));
    if (seconds > 0) {
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(clientId, { client, until: Date.now() + seconds * 1000 });
    }
    return client;
  }
}

function checkUrl(clientId: string): URL {
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    throw new ClientDocumentError('client_id is not a valid URL');
  }
  if (clientId.length > 2000 || url.hash || clientId.includes('#') || url.username || url.password || url.pathname === '/')
    throw new ClientDocumentError('client_id must be an https URL with a path, without fragment or user info');
  return url;
}

function documentFailure(kind: OutboundError['kind']): string {
  switch (kind) {
    case 'blocked':
      return 'the client metadata document is on an address the vault does not reach (private or reserved)';
    case 'too_large':
      return `the client metadata document is larger than ${CIMD_MAX_BYTES} bytes`;
    case 'timeout':
      return 'the client metadata document did not arrive in time';
    default:
      return 'the client metadata document could not be fetched';
  }
}

function parseDocument(clientId: string, body: Buffer): DocumentClient {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ClientDocumentError('the client metadata document is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ClientDocumentError('the client metadata document is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.client_id !== clientId) throw new ClientDocumentError('the client metadata document names another client_id than its URL');
  const uris = d.redirect_uris;
  if (!Array.isArray(uris) || !uris.length || uris.length > 20)
    throw new ClientDocumentError('the client metadata document must list redirect_uris');
  for (const u of uris) {
    const problem = redirectUriProblem(u);
    if (problem) throw new ClientDocumentError(`a redirect_uri of the client metadata document ${problem}`);
  }
  const auth = d.token_endpoint_auth_method ?? 'none';
  if (auth !== 'none') throw new ClientDocumentError('only public clients (token_endpoint_auth_method "none") may use a metadata document');
  const name = typeof d.client_name === 'string' && d.client_name.trim() ? d.client_name.trim().slice(0, 100) : new URL(clientId).host;
  return { client_id: clientId, client_name: name, redirect_uris: uris as string[] };
}

/** Seconds the document may be reused: `no-store`/`no-cache` none, else `max-age` (bounded), else 5 minutes. */
function cacheSeconds(cacheControl: string): number {
  const cc = cacheControl.toLowerCase();
  if (/\bno-store\b|\bno-cache\b/.test(cc)) return 0;
  const m = /\bmax-age=(\d{1,9})\b/.exec(cc);
  return m ? Math.min(Number(m[1]), MAX_CACHE_SECONDS) : DEFAULT_CACHE_SECONDS;
}
