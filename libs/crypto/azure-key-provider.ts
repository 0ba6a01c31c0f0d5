import { inspect } from 'node:util';
import { constants, createPublicKey, KeyObject, publicEncrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { CryptographyClient, KeyClient, KeyClientOptions, KeyVaultKey } from '@azure/keyvault-keys';
import type { VaultConfig } from '../config';
import { createAzureCredential } from './azure-credential';
import { KeyProvider, KeyProviderUnavailableError, KeyUnwrapError, WrappedKey } from './key-provider';

export type AzureKeyProviderConfig = Extract<VaultConfig['keyProvider'], { kind: 'azure' }>;

/** Resilience knobs. Defaults suit production; tests shrink them so failures surface fast. */
export interface AzureKeyProviderOptions {
  /** The SDK retry policy: retries after the first attempt, and exponential backoff for 5xx/network errors. */
  retry?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
  /** The longest `Retry-After` we sleep on; a longer one fails at once as unavailable. */
  maxRetryAfterMs?: number;
  /**
   * Per provider call, retries and waits included. (No separate per-attempt timeout: the SDK
   * does not retry a timed-out attempt anyway, and leaves its timer running after failures.)
   */
  deadlineMs?: number;
}

type PipelinePolicy = NonNullable<KeyClientOptions['additionalPolicies']>[number]['policy'];

const ALGORITHM = 'RSA-OAEP-256';
const DEFAULTS = { maxRetries: 3, retryDelayInMs: 250, maxRetryDelayInMs: 2000, maxRetryAfterMs: 5000, deadlineMs: 10000 };
const UNWRAP_STATUSES = new Set([400, 404]); // bad bytes; version unknown
const VERSION_RE = /^[0-9a-zA-Z]{1,64}$/;

/**
 * The KEK in Azure Key Vault (or an emulator speaking its API). Wraps locally with
 * the cached public key of the current version (RSA-OAEP-256, no Key Vault call);
 * unwraps remotely with exactly the version named by the key id.
 *
 * Key ids are checked against the configured vault and key name before any call, so a
 * tampered row cannot send our token or its bytes to another vault.
 *
 * @example
 *   const kek = new AzureKeyProvider(config.keyProvider as AzureKeyProviderConfig);
 *   await kek.init();
 *   const w = await kek.wrap(tenantKeyBytes);
 *   const back = await kek.unwrap(w.keyId, w.wrapped);
 */
export class AzureKeyProvider implements KeyProvider {
  /** Never print the credential (a static token for emulators) or clients, whoever logs this object. */
  [inspect.custom](): string {
    return 'AzureKeyProvider';
  }

  readonly kind = 'azure' as const;
  private readonly opts: typeof DEFAULTS;
  private readonly vaultOrigin: string;
  private client?: KeyClient;
  private current?: { id: string; publicKey: KeyObject; createdOn?: Date };
  private readonly cryptoClients = new Map<string, CryptographyClient>();
  private readonly throttleListeners = new Set<(retryAfterMs: number) => void>();

  constructor(
    private readonly config: AzureKeyProviderConfig,
    options: AzureKeyProviderOptions = {},
  ) {
    const url = new URL(config.vaultUrl);
    if (url.protocol !== 'https:') throw new Error('AZURE_KEYVAULT_URL must be an https:// URL');
    this.vaultOrigin = url.origin;
    const r = options.retry ?? {};
    this.opts = {
      maxRetries: r.maxRetries ?? DEFAULTS.maxRetries,
      retryDelayInMs: r.retryDelayInMs ?? DEFAULTS.retryDelayInMs,
      maxRetryDelayInMs: r.maxRetryDelayInMs ?? DEFAULTS.maxRetryDelayInMs,
      maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs,
      deadlineMs: options.deadlineMs ?? DEFAULTS.deadlineMs,
    };
  }

  async init(): Promise<void> {
    this.client ??= await this.createClient();
    await this.loadCurrent();
  }

  currentKeyId(): string {
    return this.requireCurrent().id;
  }

  async wrap(plaintext: Buffer): Promise<WrappedKey> {
    const { id, publicKey } = this.requireCurrent();
    const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, plaintext);
    return { keyId: id, wrapped };
  }

  async unwrap(keyId: string, wrapped: Buffer): Promise<Buffer> {
    const crypto = this.cryptoClientFor(keyId);
    try {
      const { result } = await crypto.unwrapKey(ALGORITHM, wrapped, this.callOptions());
      this.cryptoClients.set(keyId, crypto);
      return Buffer.from(result.buffer, result.byteOffset, result.byteLength);
    } catch (err) {
      throw classify(err, 'unwrapKey');
    }
  }

  async refresh(): Promise<string> {
    await this.loadCurrent();
    return this.currentKeyId();
  }

  /** New KEK version (needs the `rotate` permission on the key); wraps use it from now on. */
  async rotate(): Promise<string> {
    try {
      await this.requireClient().rotateKey(this.config.keyName, this.callOptions());
    } catch (err) {
      const { name, statusCode } = (err ?? {}) as ErrorFacts;
      // No `rotate` permission (or no such key): retrying will not help; an operator must act.
      if (name === 'RestError' && (statusCode === 401 || statusCode === 403 || statusCode === 404))
        throw new KekRotationRefusedError(statusCode);
      throw unavailable(err, 'rotateKey');
    }
    await this.loadCurrent();
    return this.currentKeyId();
  }

  currentKeyCreatedAt(): Date | undefined {
    return this.current?.createdOn;
  }

  onThrottle(listener: (retryAfterMs: number) => void): () => void {
    this.throttleListeners.add(listener);
    return () => this.throttleListeners.delete(listener);
  }

  async health(): Promise<void> {
    try {
      await this.requireClient().getKey(this.config.keyName, this.callOptions());
    } catch (err) {
      throw unavailable(err, 'getKey');
    }
  }

  private async createClient(): Promise<KeyClient> {
    // Loaded on first use: the SDK costs ~250 ms to require and `local` deployments never need it.
    // (`require`, not `import()`: TypeScript would type a dynamic import with the package's ESM build.)
    const { KeyClient: Client } = require('@azure/keyvault-keys') as { KeyClient: typeof KeyClient };
    const credential = await createAzureCredential(this.config.credential);
    const { maxRetries, retryDelayInMs, maxRetryDelayInMs, maxRetryAfterMs } = this.opts;
    return new Client(this.config.vaultUrl, credential, {
      retryOptions: { maxRetries, retryDelayInMs, maxRetryDelayInMs },
      additionalPolicies: [{ policy: retryAfterCapPolicy(maxRetryAfterMs, (ms) => this.throttled(ms)), position: 'perRetry' }],
      // `ca` replaces Node's bundled roots, so keep them and add the extra CA.
      ...(this.config.caFile ? { tlsOptions: { ca: [...rootCertificates, readFileSync(this.config.caFile, 'utf8')] } } : {}),
      disableChallengeResourceVerification: this.config.disableChallengeResourceVerification,
    });
  }

  private async loadCurrent(): Promise<void> {
    let key: KeyVaultKey;
    try {
      key = await this.requireClient().getKey(this.config.keyName, this.callOptions());
    } catch (err) {
      throw unavailable(err, 'getKey');
    }
    const jwk = key.key;
    const what = `Key Vault key "${this.config.keyName}"`;
    if (!jwk?.n || !jwk.e || (jwk.kty !== 'RSA' && jwk.kty !== 'RSA-HSM'))
      throw new Error(`${what} must be an RSA key (kty RSA or RSA-HSM)`);
    if (key.properties.enabled === false) throw new Error(`${what}: the current version is disabled`);
    if (key.keyOperations && !key.keyOperations.includes('unwrapKey')) throw new Error(`${what} does not permit unwrapKey`);
    // Unwrap checks ids against the configured vault, so the service must answer with one of ours.
    if (!key.id || !this.parseKeyId(key.id)) throw new Error(`${what}: Key Vault answered with a key id outside ${this.vaultOrigin}`);
    const publicKey = createPublicKey({
      key: { kty: 'RSA', n: Buffer.from(jwk.n).toString('base64url'), e: Buffer.from(jwk.e).toString('base64url') },
      format: 'jwk',
    });
    this.current = { id: key.id, publicKey, createdOn: key.properties.createdOn };
  }

  private throttled(retryAfterMs: number): void {
    for (const listener of this.throttleListeners) {
      try {
        listener(retryAfterMs);
      } catch {
        // a listener's failure is its own business
      }
    }
  }

  /**
   * A client for exactly this version, sharing the KeyClient's pipeline (TLS, retries, token).
   * Its first use fetches the version once; it is cached only after an unwrap succeeds,
   * so ids that never worked cannot grow the cache.
   */
  private cryptoClientFor(keyId: string): CryptographyClient {
    const cached = this.cryptoClients.get(keyId);
    if (cached) return cached;
    const version = this.parseKeyId(keyId);
    if (!version) throw new KeyUnwrapError();
    return this.requireClient().getCryptographyClient(this.config.keyName, { keyVersion: version });
  }

  /** The version in `keyId` if it names a version of our key in our vault; otherwise undefined. */
  private parseKeyId(keyId: string): string | undefined {
    let url: URL;
    try {
      url = new URL(keyId);
    } catch {
      return undefined;
    }
    const [, collection, name, version, ...rest] = url.pathname.split('/');
    const ours = url.origin === this.vaultOrigin && collection === 'keys' && name?.toLowerCase() === this.config.keyName.toLowerCase();
    return ours && !rest.length && VERSION_RE.test(version ?? '') && !url.search && !url.hash ? version : undefined;
  }

  private callOptions(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(this.opts.deadlineMs) };
  }

  private requireClient(): KeyClient {
    if (!this.client) throw new Error('AzureKeyProvider.init() has not completed');
    return this.client;
  }

  private requireCurrent(): { id: string; publicKey: KeyObject } {
    if (!this.current) throw new Error('AzureKeyProvider.init() has not completed');
    return this.current;
  }
}

/** Key Vault refused to create a KEK version (missing `rotate` permission, or the key is gone). */
export class KekRotationRefusedError extends Error {
  constructor(readonly statusCode: number) {
    super(`Key Vault refused rotateKey (status ${statusCode})`);
    this.name = 'KekRotationRefusedError';
  }
}

class RetryAfterTooLongError extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`Key Vault asked to retry after ${retryAfterMs} ms`);
    this.name = 'RetryAfterTooLongError';
  }
}

/**
 * The SDK honours any `Retry-After`, however long. Runs inside the retry loop and turns
 * a wait beyond our budget into an immediate failure (a non-RestError is not retried).
 */
function retryAfterCapPolicy(maxMs: number, onThrottle: (waitMs: number) => void): PipelinePolicy {
  return {
    name: 'retryAfterCapPolicy',
    async sendRequest(request, next) {
      const response = await next(request);
      if (response.status !== 429 && response.status !== 503) return response;
      const h = response.headers;
      const ms = Number(h.get('retry-after-ms') ?? h.get('x-ms-retry-after-ms') ?? NaN);
      const raw = h.get('retry-after');
      const wait = Number.isFinite(ms)
        ? ms
        : raw === undefined
          ? NaN
          : /^\d+$/.test(raw)
            ? Number(raw) * 1000
            : Date.parse(raw) - Date.now();
      if (response.status === 429 || Number.isFinite(wait)) onThrottle(Number.isFinite(wait) ? Math.max(0, wait) : 0);
      if (wait > maxMs) throw new RetryAfterTooLongError(wait);
      return response;
    },
  };
}

interface ErrorFacts {
  name?: string;
  statusCode?: number;
  code?: string;
}

/** Unwrap failures: bad bytes or an unusable version → KeyUnwrapError; cannot reach/serve → unavailable. */
function classify(err: unknown, op: string): Error {
  const { name, statusCode } = (err ?? {}) as ErrorFacts;
  if (err instanceof KeyUnwrapError) return err;
  if (name === 'RestError' && statusCode !== undefined && UNWRAP_STATUSES.has(statusCode)) return new KeyUnwrapError();
  if (name === 'RestError' || name === 'AbortError' || err instanceof RetryAfterTooLongError) return unavailable(err, op);
  // Client-side refusals from the SDK (version expired, operation not permitted on the key).
  return new KeyUnwrapError();
}

/**
 * KeyProviderUnavailableError whose non-enumerable `cause` names only the operation,
 * HTTP status and error code — never messages, bodies or headers, which may carry key bytes or tokens.
 */
function unavailable(err: unknown, op: string): KeyProviderUnavailableError {
  const { name, statusCode, code } = (err ?? {}) as ErrorFacts;
  const e = new KeyProviderUnavailableError();
  e.throttled = statusCode === 429 || err instanceof RetryAfterTooLongError;
  const facts = [`status ${statusCode ?? 'none'}`, `code ${safeToken(code) ?? safeToken(name) ?? 'none'}`].join(', ');
  Object.defineProperty(e, 'cause', { value: new Error(`Key Vault ${op} failed (${facts})`), enumerable: false, configurable: true });
  return e;
}

function safeToken(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : undefined;
}
