import { createHash, createPublicKey, KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { inspect } from 'node:util';
import type { JsonWebKey, KeyClient } from '@azure/keyvault-keys';
import { ANCHOR_DIGEST, AnchorAlgorithm, AuditSigner } from './audit-signer';
import { createAzureCredential } from './azure-credential';
import type { AzureKeyProviderConfig } from './azure-key-provider';
import { KeyProviderUnavailableError } from './key-provider';

const CURVE_ALG: Record<string, AnchorAlgorithm> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
const VERSION_RE = /^[0-9a-zA-Z]{1,64}$/;
const DEADLINE_MS = 10000;

/**
 * Anchors signed by a Key Vault key (`AZURE_KEYVAULT_AUDIT_KEY_NAME`, EC P-256/384/521 or RSA) through
 * the `sign` operation: the digest goes to Key Vault, the private key never leaves it. The public
 * half of each version is read once and kept, for verification.
 */
export class AzureAuditSigner implements AuditSigner {
  [inspect.custom](): string {
    return 'AzureAuditSigner';
  }

  readonly kind = 'azure' as const;
  private client?: KeyClient;
  private current?: { version: string; alg: AnchorAlgorithm };
  private readonly publicKeys = new Map<string, KeyObject>();
  private readonly origin: string;

  constructor(
    private readonly config: AzureKeyProviderConfig,
    private readonly keyName: string,
  ) {
    this.origin = new URL(config.vaultUrl).origin;
  }

  private ready?: Promise<void>;

  /** Idempotent: the key is loaded once (a failed load is tried again on the next call). */
  init(): Promise<void> {
    this.ready ??= this.load().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async load(): Promise<void> {
    const { KeyClient: Client } = require('@azure/keyvault-keys') as { KeyClient: typeof KeyClient };
    const credential = await createAzureCredential(this.config.credential);
    this.client ??= new Client(this.config.vaultUrl, credential, {
      retryOptions: { maxRetries: 3, retryDelayInMs: 250, maxRetryDelayInMs: 2000 },
      ...(this.config.caFile ? { tlsOptions: { ca: [...rootCertificates, readFileSync(this.config.caFile, 'utf8')] } } : {}),
      disableChallengeResourceVerification: this.config.disableChallengeResourceVerification,
    });
    const key = await this.call(() => this.client!.getKey(this.keyName, this.options()));
    const version = this.versionOf(key.id ?? '');
    const what = `Key Vault key "${this.keyName}" (AZURE_KEYVAULT_AUDIT_KEY_NAME)`;
    if (!version) throw new Error(`${what}: Key Vault answered with a key id outside ${this.origin}`);
    if (key.keyOperations && !key.keyOperations.includes('sign')) throw new Error(`${what} does not permit sign`);
    const { alg, publicKey } = toPublicKey(key.key, what);
    this.publicKeys.set(version, publicKey);
    this.current = { version, alg };
  }

  async sign(data: Buffer): Promise<{ alg: AnchorAlgorithm; kid: string; sig: Buffer }> {
    if (!this.client || !this.current) throw new Error('AzureAuditSigner.init() has not completed');
    const { version, alg } = this.current;
    const digest = createHash(ANCHOR_DIGEST[alg]).update(data).digest();
    const crypto = this.client.getCryptographyClient(this.keyName, { keyVersion: version });
    const r = await this.call(() => crypto.sign(alg, digest, this.options()));
    return { alg, kid: `${this.origin}/keys/${this.keyName}/${version}`, sig: Buffer.from(r.result) };
  }

  async publicKey(kid: string): Promise<KeyObject | undefined> {
    const version = this.versionOf(kid);
    if (!version || !this.client) return undefined;
    const known = this.publicKeys.get(version);
    if (known) return known;
    const key = await this.call(() => this.client!.getKey(this.keyName, { version, ...this.options() })).catch((err: unknown) => {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    });
    if (!key) return undefined;
    const { publicKey } = toPublicKey(key.key, `Key Vault key "${this.keyName}"`);
    this.publicKeys.set(version, publicKey);
    return publicKey;
  }

  /** The version in `kid` if it names a version of the audit key in our vault. */
  private versionOf(kid: string): string | undefined {
    let url: URL;
    try {
      url = new URL(kid);
    } catch {
      return undefined;
    }
    const [, collection, name, version, ...rest] = url.pathname.split('/');
    const ours = url.origin === this.origin && collection === 'keys' && name?.toLowerCase() === this.keyName.toLowerCase();
    return ours && !rest.length && VERSION_RE.test(version ?? '') && !url.search ? version : undefined;
  }

  private options(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(DEADLINE_MS) };
  }

  /** Transport failures become `KeyProviderUnavailableError` (no messages: they may quote bodies); a 404 stays itself. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const { name, statusCode } = (err ?? {}) as { name?: string; statusCode?: number };
      if (statusCode === 404) throw Object.assign(new Error(`Key Vault key "${this.keyName}" was not found`), { statusCode });
      if (name === 'RestError' || name === 'AbortError') throw new KeyProviderUnavailableError();
      throw err;
    }
  }
}

function toPublicKey(jwk: JsonWebKey | undefined, what: string): { alg: AnchorAlgorithm; publicKey: KeyObject } {
  const b64 = (v: Uint8Array) => Buffer.from(v).toString('base64url');
  if ((jwk?.kty === 'EC' || jwk?.kty === 'EC-HSM') && jwk.crv && CURVE_ALG[jwk.crv] && jwk.x && jwk.y) {
    return {
      alg: CURVE_ALG[jwk.crv],
      publicKey: createPublicKey({ key: { kty: 'EC', crv: jwk.crv, x: b64(jwk.x), y: b64(jwk.y) }, format: 'jwk' }),
    };
  }
  if ((jwk?.kty === 'RSA' || jwk?.kty === 'RSA-HSM') && jwk.n && jwk.e) {
    return { alg: 'RS256', publicKey: createPublicKey({ key: { kty: 'RSA', n: b64(jwk.n), e: b64(jwk.e) }, format: 'jwk' }) };
  }
  throw new Error(`${what} must be an EC (P-256, P-384, P-521) or RSA key`);
}
