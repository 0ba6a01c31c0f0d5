import { Secret } from '../../kernel';
import type { ResolvedProvider } from '../catalog/catalog';
import type { ClientAuthMethod } from '../catalog/entry.schema';
import { OpenRequest, OutboundError, ProviderHttpClient, ProviderRequest, ProviderResponse } from '../outbound/provider-http.client';
import { stringAt } from './paths';
import { ProviderError } from './provider-error';
import { ParsedGrant, parseTokenResponse } from './token-response';

export interface ClientCredentials {
  clientId: string;
  clientSecret: Secret | null;
}

export type RevocationOutcome = 'revoked' | 'not_supported' | 'no_token' | 'failed';

/**
 * The vault as an OAuth client of one provider: code exchange, refresh, revocation (RFC 7009
 * and the entries' variants), userinfo. Every call goes through the `ProviderHttpClient`; every
 * failure is a `ProviderError` whose message holds a code, never a request or response body.
 */
export class OAuthClient {
  constructor(private readonly http: ProviderHttpClient) {}

  async exchangeCode(
    p: ResolvedProvider,
    client: ClientCredentials,
    a: { code: string; redirectUri: string; codeVerifier: string | null },
    now = new Date(),
  ): Promise<ParsedGrant> {
    const params: Record<string, string> = { grant_type: 'authorization_code', code: a.code, redirect_uri: a.redirectUri };
    if (a.codeVerifier) params.code_verifier = a.codeVerifier;
    const res = await this.tokenCall(p, client, params);
    return parseTokenResponse(res, {
      entry: p.entry,
      kind: 'code',
      requestedScopes: p.scopes,
      assumedLifetimeSeconds: p.assumedLifetimeSeconds,
      clientId: client.clientId,
      issuer: p.issuer,
      now,
    });
  }

  /** A refresh. `granted` stands for the scopes when the response does not list them. */
  async refresh(p: ResolvedProvider, client: ClientCredentials, refreshToken: Secret, granted: string[]): Promise<ParsedGrant> {
    return (await this.openRefresh(p, client, refreshToken, { granted })).send();
  }

  /**
   * A refresh asking for a narrower scope set (RFC 6749 §6): an access token for `scopes` only.
   * The answer's scopes are the provider's `scope` (or `scopes` when it omits it, RFC 6749 §5.1);
   * the caller checks them against what it asked for.
   */
  async refreshNarrowed(p: ResolvedProvider, client: ClientCredentials, refreshToken: Secret, scopes: string[]): Promise<ParsedGrant> {
    return (await this.openRefresh(p, client, refreshToken, { narrowTo: scopes })).send();
  }

  /**
   * A refresh (`narrowTo`: for a narrower scope set) whose connection to the token endpoint is open
   * and nothing sent (`ProviderHttpClient.open`): the refresher writes its call-start mark between
   * the two, so a failure to connect (a `ProviderError` here) is known to have reached nobody.
   * `send` or `close` must follow.
   */
  async openRefresh(
    p: ResolvedProvider,
    client: ClientCredentials,
    refreshToken: Secret,
    scopes: { granted: string[] } | { narrowTo: string[] },
  ): Promise<OpenRefresh> {
    const narrowTo = 'narrowTo' in scopes ? scopes.narrowTo : undefined;
    const params: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken.reveal() };
    if (narrowTo) params.scope = narrowTo.join(p.entry.scopes.separator);
    const opened = await this.open(this.tokenRequest(p, client, params));
    return {
      send: async () => {
        const now = new Date();
        const res = await this.sendOn(opened);
        return parseTokenResponse(res, {
          entry: p.entry,
          kind: 'refresh',
          requestedScopes: narrowTo ?? ('granted' in scopes ? scopes.granted : []),
          assumedLifetimeSeconds: p.assumedLifetimeSeconds,
          clientId: client.clientId,
          issuer: p.issuer,
          now,
        });
      },
      close: () => opened.close(),
    };
  }

  /** Revokes the grant where the entry has an endpoint. Never throws: disconnect goes on either way. */
  async revoke(
    p: ResolvedProvider,
    client: ClientCredentials,
    tokens: { access: Secret | null; refresh: Secret | null },
  ): Promise<RevocationOutcome> {
    const r = p.entry.revocation;
    if (!r || !p.revocationUrl) return 'not_supported';
    const token = r.token === 'refresh_token' ? (tokens.refresh ?? tokens.access) : (tokens.access ?? tokens.refresh);
    if (!token) return 'no_token';
    const kind = token === tokens.refresh ? 'refresh_token' : 'access_token';
    const headers: Record<string, string> = { accept: 'application/json' };
    let fields: Record<string, string> = {};
    if (r.tokenIn === 'bearer') headers.authorization = `Bearer ${token.reveal()}`;
    else fields = { [r.tokenParam]: token.reveal(), ...(r.hint ? { token_type_hint: kind } : {}) };
    if (r.tokenIn !== 'bearer') fields = authenticate(r.clientAuth, client, headers, fields);
    try {
      const res = await this.http.request({
        method: r.method,
        url: p.revocationUrl,
        ...encode(r.tokenIn === 'json' ? 'json' : 'form', fields, headers, r.tokenIn === 'bearer' && r.method === 'DELETE'),
      });
      const body = safeJson(res);
      const ok = res.status >= 200 && res.status < 300 && !(p.entry.response.okFlag && body?.[p.entry.response.okFlag] === false);
      return ok ? 'revoked' : 'failed';
    } catch {
      return 'failed';
    }
  }

  /** The account's subject and email from the entry's userinfo endpoint. */
  async userinfo(p: ResolvedProvider, accessToken: Secret): Promise<{ subject: string | null; email: string | null }> {
    const id = p.entry.identity;
    if (id.source !== 'userinfo' || !p.userinfoUrl) return { subject: null, email: null };
    const res = await this.call({
      method: 'GET',
      url: p.userinfoUrl,
      headers: { accept: 'application/json', authorization: `Bearer ${accessToken.reveal()}` },
    });
    const doc = res.status === 200 ? safeJson(res) : undefined;
    if (!doc) throw new ProviderError(res.status === 401 ? 'terminal' : 'transient', 'userinfo_failed', res.status);
    return { subject: stringAt(doc, id.subject) ?? null, email: id.email ? (stringAt(doc, id.email) ?? null) : null };
  }

  private async tokenCall(p: ResolvedProvider, client: ClientCredentials, params: Record<string, string>): Promise<ProviderResponse> {
    return this.call(this.tokenRequest(p, client, params));
  }

  private tokenRequest(p: ResolvedProvider, client: ClientCredentials, params: Record<string, string>): ProviderRequest {
    const headers: Record<string, string> = { accept: 'application/json' };
    const fields = authenticate(p.entry.tokenAuthMethod, client, headers, params);
    return { method: 'POST', url: p.tokenUrl, ...encode(p.entry.tokenEncoding, fields, headers, false) };
  }

  private async call(req: ProviderRequest): Promise<ProviderResponse> {
    return this.sendOn(await this.open(req));
  }

  private open(req: ProviderRequest): Promise<OpenRequest> {
    return this.http.open(req).catch(asProviderError);
  }

  private sendOn(opened: OpenRequest): Promise<ProviderResponse> {
    return opened.send().catch(asProviderError);
  }
}

/** A refresh ready to go (`OAuthClient.openRefresh`). */
export interface OpenRefresh {
  /** Sends it on the open connection; rejects with a `ProviderError`. Once. */
  send(): Promise<ParsedGrant>;
  /** Closes the connection unused. */
  close(): void;
}

function asProviderError(err: unknown): never {
  if (err instanceof OutboundError) {
    throw new ProviderError(err.kind === 'blocked' || err.kind === 'invalid_url' ? 'blocked' : 'transient', `outbound_${err.kind}`);
  }
  throw err;
}

/** Client authentication at the token endpoint (RFC 6749 §2.3.1): Basic with form-encoded parts, or in the body. */
function authenticate(
  method: ClientAuthMethod,
  c: ClientCredentials,
  headers: Record<string, string>,
  fields: Record<string, string>,
): Record<string, string> {
  if (method === 'client_secret_basic' && c.clientSecret) {
    const enc = (s: string) => new URLSearchParams({ v: s }).toString().slice(2);
    headers.authorization = `Basic ${Buffer.from(`${enc(c.clientId)}:${enc(c.clientSecret.reveal())}`).toString('base64')}`;
    return fields;
  }
  if (method === 'client_secret_post' && c.clientSecret)
    return { ...fields, client_id: c.clientId, client_secret: c.clientSecret.reveal() };
  return { ...fields, client_id: c.clientId };
}

function encode(kind: 'form' | 'json', fields: Record<string, string>, headers: Record<string, string>, empty: boolean) {
  if (empty || Object.keys(fields).length === 0) return { headers };
  if (kind === 'json') return { headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(fields) };
  return { headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() };
}

function safeJson(res: ProviderResponse): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(res.body.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
