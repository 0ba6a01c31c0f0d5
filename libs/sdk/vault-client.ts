import { createHash, JsonWebKey, KeyObject } from 'node:crypto';
import { sleep, withApproval } from './approval';
import { AssertionAlgorithm, authenticate, ClientAuthMethod, ClientCredentials, privateKeyOf } from './client-auth';
import { exchangeError, releaseError } from './error-mapping';
import { InvalidTokenError, VaultError } from './errors';
import { DpopSigner } from './dpop';
import { isDpopBound, parseExchange, parseRelease, principalOf, tokenExpiry } from './responses';
import { TtlCache } from './ttl-cache';
import type { ApprovalOptions, ApprovedToken, ExchangeOptions, Release, ReleaseAuth, ReleaseOptions, VaultToken } from './types';
import { callVault } from './vault-http';

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

export interface VaultClientOptions {
  /** Where this agent reaches the vault, e.g. `https://vault.example.com`. */
  url: string;
  /** The agent's client id (`PUT /v1/admin/agents/{client_id}`). */
  clientId: string;
  /** Default: `client_secret_basic` with a `clientSecret`, `private_key_jwt` with a key or assertion. */
  authMethod?: ClientAuthMethod;
  clientSecret?: string;
  /** private_key_jwt: the private key (KeyObject, PEM or JWK) whose public half the agent registered. */
  privateKey?: KeyObject | string | JsonWebKey;
  keyId?: string;
  algorithm?: AssertionAlgorithm;
  /** private_key_jwt: returns a fresh client assertion per call, instead of signing one here. */
  clientAssertion?: () => string | Promise<string>;
  /**
   * `federated`: returns the agent's current token from its own identity provider (an Entra agent
   * identity token, a Kubernetes service account token), which the vault matches against the
   * agent's federated credentials. No secret is held. Also the assertion of `agentToken()`.
   */
  federatedAssertion?: () => string | Promise<string>;
  /** The vault's `VAULT_PUBLIC_URL`, when `url` is another address for it; assertions are for `<publicUrl>/oauth2/token`. */
  publicUrl?: string;
  /**
   * DPoP (RFC 9449): `true` generates an EC P-256 key for this client, or pass a private key
   * (KeyObject, PEM or JWK; EC or RSA). Every exchange then sends a proof (the vault binds the
   * token to the key) and every release of a bound token a proof by the same key.
   */
  dpop?: boolean | KeyObject | string | JsonWebKey;
  /** A cached token is used until this many seconds before it expires (at most half its lifetime). Default 30. */
  expirySkewSeconds?: number;
  /** API keys do not expire: how long to reuse a released one. Default 0 (ask the vault every time, so a rotation applies at once). */
  apiKeyCacheSeconds?: number;
  /** Deadline per vault call. Default 10000. */
  timeoutMs?: number;
  /** Upper bound on cached entries per cache. Default 1000. */
  maxCacheEntries?: number;
  fetch?: typeof fetch;
  /** Clock, epoch ms (tests). */
  now?: () => number;
  /** How `withApproval` waits between polls (tests). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * The vault for an agent: exchanges a user's token for a vault token (RFC 8693) and releases the
 * user's credential for an integration. Access tokens are reused until shortly before they
 * expire, exchanged tokens too; concurrent identical calls make one request. Refusals are typed
 * errors (`NeedsReauthError` carries the `connectUrl` to hand to the user).
 *
 * @example
 *   const vault = new VaultClient({ url: 'https://vault.example.com', clientId: 'mcp-1', clientSecret });
 *   const { access_token } = await vault.release('calendar', { userToken }) as OAuthRelease;
 */
export class VaultClient {
  readonly url: string;
  readonly clientId: string;
  readonly authMethod: ClientAuthMethod;
  readonly #credentials: ClientCredentials;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #skewMs: number;
  readonly #apiKeyMs: number;
  readonly #timeoutMs: number;
  readonly #exchanges: TtlCache<VaultToken>;
  readonly #releases: TtlCache<Release>;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #federated?: () => string | Promise<string>;
  readonly #agentTokens: TtlCache<VaultToken>;
  readonly #dpop?: DpopSigner;
  readonly #publicBase: string;

  constructor(o: VaultClientOptions) {
    if (!o?.url || !o.clientId) throw new TypeError('VaultClient needs url and clientId');
    this.url = o.url.replace(/\/+$/, '');
    this.clientId = o.clientId;
    this.authMethod =
      o.authMethod ?? (o.clientSecret !== undefined ? 'client_secret_basic' : o.federatedAssertion ? 'federated' : 'private_key_jwt');
    const isSecret = this.authMethod === 'client_secret_basic' || this.authMethod === 'client_secret_post';
    if (isSecret && !o.clientSecret) throw new TypeError(`${this.authMethod} needs clientSecret`);
    if (this.authMethod === 'private_key_jwt' && !o.privateKey && !o.clientAssertion)
      throw new TypeError('private_key_jwt needs privateKey or clientAssertion');
    if (this.authMethod === 'federated' && !o.federatedAssertion) throw new TypeError('federated needs federatedAssertion');
    this.#federated = o.federatedAssertion;
    this.#credentials = {
      clientId: o.clientId,
      method: this.authMethod,
      secret: isSecret ? o.clientSecret : undefined,
      privateKey: !isSecret && o.privateKey ? privateKeyOf(o.privateKey) : undefined,
      keyId: o.keyId,
      algorithm: o.algorithm,
      assertion: this.authMethod === 'federated' ? o.federatedAssertion : o.clientAssertion,
      audience: `${(o.publicUrl ?? this.url).replace(/\/+$/, '')}/oauth2/token`,
    };
    this.#publicBase = (o.publicUrl ?? this.url).replace(/\/+$/, '');
    if (o.dpop) this.#dpop = new DpopSigner(o.dpop === true ? undefined : o.dpop);
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.#now = o.now ?? Date.now;
    this.#skewMs = (o.expirySkewSeconds ?? 30) * 1000;
    this.#apiKeyMs = (o.apiKeyCacheSeconds ?? 0) * 1000;
    this.#timeoutMs = o.timeoutMs ?? 10_000;
    this.#exchanges = new TtlCache(this.#now, o.maxCacheEntries);
    this.#releases = new TtlCache(this.#now, o.maxCacheEntries);
    this.#agentTokens = new TtlCache(this.#now, o.maxCacheEntries);
    this.#sleep = o.sleep ?? sleep;
  }

  /**
   * A vault token for the agent itself, no user (the jwt-bearer grant with `federatedAssertion`'s
   * token): it releases tenant-level connections only. Cached until shortly before it expires.
   */
  async agentToken(opts: ExchangeOptions = {}): Promise<VaultToken> {
    const federated = this.#federated;
    if (!federated) throw new TypeError('agentToken needs federatedAssertion');
    const key = [scopesOf(opts).join(' '), opts.expiresIn ?? ''].join('\u0000');
    const load = async () => {
      const form = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion: await federated(), client_id: this.clientId });
      const scopes = scopesOf(opts);
      if (scopes.length) form.set('scope', scopes.join(' '));
      if (opts.expiresIn !== undefined) form.set('expires_in', String(opts.expiresIn));
      return this.#tokenCall(form, false);
    };
    return (await this.#agentTokens.get(key, load, (t) => this.#goodUntil(t.expiresAt.getTime()))).value;
  }

  /**
   * Asks the user to approve this agent's use of `integration` (CIBA, when policy requires approval)
   * and waits for the answer, polling with backoff. Resolves with a vault token carrying the
   * approval; throws `ApprovalDeniedError` or `ApprovalExpiredError`. Not cached: each call asks.
   *
   * @example
   *   const t = await vault.withApproval('gmail', { userToken, bindingMessage: 'Send invoice 4711' });
   *   const mail = await vault.release('gmail', { vaultToken: t.accessToken });
   */
  async withApproval(integration: string | string[], opts: ApprovalOptions): Promise<ApprovedToken> {
    const deps = { url: this.url, credentials: this.#credentials, fetch: this.#fetch, timeoutMs: this.#timeoutMs, now: this.#now };
    return withApproval({ ...deps, sleep: this.#sleep }, Array.isArray(integration) ? integration : [integration], opts);
  }

  /** Exchanges the user's token for a vault token carrying the scopes policy grants this agent. Cached. */
  async exchange(userToken: string, opts: ExchangeOptions = {}): Promise<VaultToken> {
    return (await this.#exchange(userToken, opts)).value;
  }

  /**
   * The user's credential for `integration`. With `{ userToken }` the token is exchanged first
   * (for `connections:<integration>`); with `{ vaultToken }` it is used as it is.
   */
  async release(integration: string, auth: ReleaseAuth, opts: ReleaseOptions = {}): Promise<Release> {
    if (typeof integration !== 'string' || !integration) throw new TypeError('integration is required');
    const scopes = [...new Set(opts.scopes ?? [])].sort();
    if (auth?.vaultToken) return this.#releaseWith(auth.vaultToken, `t:${digest(auth.vaultToken)}`, integration, scopes);
    if (auth?.asAgent === true) {
      const own = await this.agentToken({ integrations: [integration] });
      return this.#releaseWith(own.accessToken, `a:${this.clientId}`, integration, scopes);
    }
    if (!auth?.userToken) throw new TypeError('release needs { userToken }, { vaultToken } or { asAgent: true }');
    const wanted = { scopes: [`connections:${integration}`] };
    const first = await this.#exchange(auth.userToken, wanted);
    try {
      return await this.#releaseWith(first.value.accessToken, principalOf(first.value.accessToken), integration, scopes);
    } catch (err) {
      // A cached vault token the vault no longer takes (its signing key retired, the agent re-registered): once more, freshly.
      if (!(err instanceof InvalidTokenError) || first.fresh) throw err;
      this.#exchanges.delete(exchangeKey(auth.userToken, wanted));
      const again = await this.#exchange(auth.userToken, wanted);
      return this.#releaseWith(again.value.accessToken, principalOf(again.value.accessToken), integration, scopes);
    }
  }

  /** The secret to present to the provider: the access token, or the API key. */
  async accessToken(integration: string, auth: ReleaseAuth, opts: ReleaseOptions = {}): Promise<string> {
    const r = await this.release(integration, auth, opts);
    return r.type === 'oauth2' ? r.access_token : r.api_key;
  }

  /** Forgets cached credentials for an integration (e.g. after the provider answered 401 to one). */
  forget(integration?: string): void {
    if (integration === undefined) this.#releases.clear();
    else this.#releases.deletePrefix(`${integration}\u0000`);
  }

  /** Forgets everything cached: credentials and exchanged tokens. */
  clear(): void {
    this.#releases.clear();
    this.#exchanges.clear();
    this.#agentTokens.clear();
  }

  toJSON(): Record<string, string> {
    return { url: this.url, clientId: this.clientId, authMethod: this.authMethod };
  }

  [INSPECT](): string {
    return `VaultClient { url: '${this.url}', clientId: '${this.clientId}', authMethod: '${this.authMethod}' }`;
  }

  async #exchange(userToken: string, opts: ExchangeOptions): Promise<{ value: VaultToken; fresh: boolean }> {
    if (typeof userToken !== 'string' || !userToken) throw new TypeError('userToken is required');
    return this.#exchanges.get(
      exchangeKey(userToken, opts),
      () => this.#callExchange(userToken, opts),
      (t) => this.#goodUntil(t.expiresAt.getTime()),
    );
  }

  async #callExchange(userToken: string, opts: ExchangeOptions): Promise<VaultToken> {
    const form = new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: userToken, subject_token_type: ACCESS_TOKEN_TYPE });
    const scopes = scopesOf(opts);
    if (scopes.length) form.set('scope', scopes.join(' '));
    if (opts.resource) form.set('resource', opts.resource);
    if (opts.expiresIn !== undefined) form.set('expires_in', String(opts.expiresIn));
    return this.#tokenCall(form, true);
  }

  /** POST /oauth2/token; `authenticated`: with this agent's client authentication. */
  async #tokenCall(form: URLSearchParams, authenticated: boolean): Promise<VaultToken> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (authenticated) await authenticate(this.#credentials, form, headers);
    if (this.#dpop) headers.dpop = this.#dpop.proof('POST', `${this.#publicBase}/oauth2/token`, undefined, this.#now());
    const answer = await callVault(
      this.#fetch,
      `${this.url}/oauth2/token`,
      { method: 'POST', headers, body: form.toString() },
      this.#timeoutMs,
    );
    if (answer.status !== 200) throw exchangeError(answer);
    return parseExchange(answer, this.#now());
  }

  async #releaseWith(vaultToken: string, principal: string, integration: string, scopes: string[]): Promise<Release> {
    const load = () => this.#callRelease(vaultToken, integration, scopes);
    // An expired token must reach the vault (and be refused there), not be answered from the cache.
    const exp = tokenExpiry(vaultToken);
    if (exp !== undefined && exp <= this.#now()) return load();
    const key = `${integration}\u0000${principal}\u0000${scopes.join(' ')}`;
    return (await this.#releases.get(key, load, (r) => this.#releaseUntil(r))).value;
  }

  async #callRelease(vaultToken: string, integration: string, scopes: string[]): Promise<Release> {
    const path = `/v1/connections/${encodeURIComponent(integration)}/token`;
    // A DPoP-bound token goes with the DPoP scheme and a proof for this request (RFC 9449 §7.1).
    const bound = this.#dpop !== undefined && isDpopBound(vaultToken);
    const headers: Record<string, string> = bound
      ? { authorization: `DPoP ${vaultToken}`, dpop: this.#dpop!.proof('POST', this.#publicBase + path, vaultToken, this.#now()) }
      : { authorization: `Bearer ${vaultToken}` };
    let body: string | undefined;
    if (scopes.length) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify({ scopes });
    }
    const url = this.url + path;
    const answer = await callVault(this.#fetch, url, { method: 'POST', headers, body }, this.#timeoutMs);
    if (answer.status !== 200) throw releaseError(answer, integration);
    const release = parseRelease(answer);
    if (!release)
      throw new VaultError('invalid_response', {
        status: answer.status,
        integration,
        detail: 'the vault answered with an unexpected body',
      });
    return release;
  }

  #releaseUntil(r: Release): number {
    if (r.type === 'api_key') return this.#apiKeyMs > 0 ? this.#now() + this.#apiKeyMs : 0;
    const expiresAt = r.expires_at ? Date.parse(r.expires_at) : NaN;
    // Without a known expiry there is nothing safe to cache against.
    return Number.isNaN(expiresAt) ? 0 : this.#goodUntil(expiresAt);
  }

  /** Until `skew` before `expiresAt`, but never less than half of what is left. */
  #goodUntil(expiresAt: number): number {
    const left = expiresAt - this.#now();
    return expiresAt - Math.min(this.#skewMs, left / 2);
  }
}

function scopesOf(opts: ExchangeOptions): string[] {
  return [...new Set([...(opts.scopes ?? []), ...(opts.integrations ?? []).map((i) => `connections:${i}`)])].sort();
}

/** The exact user token (hashed) is the key: two tokens naming the same user are not interchangeable until the vault says so. */
function exchangeKey(userToken: string, opts: ExchangeOptions): string {
  return [digest(userToken), scopesOf(opts).join(' '), opts.resource ?? '', opts.expiresIn ?? ''].join('\u0000');
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
