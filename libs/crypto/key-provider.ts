import { UnavailableError } from '../kernel';

/** A data key wrapped by a KEK version. `keyId` always names the exact KEK version. */
export interface WrappedKey {
  keyId: string;
  wrapped: Buffer;
}

/**
 * The port between the keyring and whatever holds the KEK (Azure Key Vault, a local file).
 * Providers wrap opaque bytes; the keyring binds context (AAD) inside those bytes,
 * because Key Vault's RSA wrap has none.
 *
 * Pre: `init()` resolved before any other call.
 * Post: `unwrap(w.keyId, w.wrapped)` returns exactly what `wrap` was given.
 * Failures: `KeyProviderUnavailableError` when the provider cannot be reached or
 * throttles past its retries; `KeyUnwrapError` when the bytes do not unwrap.
 */
export interface KeyProvider {
  readonly kind: 'local' | 'azure';
  /** Loads (or for `local`, creates) the KEK and caches what wrap needs. */
  init(): Promise<void>;
  /** Versioned id of the KEK version new wraps use. */
  currentKeyId(): string;
  /** Wraps under the current KEK version. May be local (cached public key). */
  wrap(plaintext: Buffer): Promise<WrappedKey>;
  /** Unwraps with the KEK version named by `keyId`. Remote for `azure`. */
  unwrap(keyId: string, wrapped: Buffer): Promise<Buffer>;
  /** Re-reads the KEK's current version (after a rotation). Returns the current versioned id. */
  refresh(): Promise<string>;
  /** Resolves when the provider can serve; throws `KeyProviderUnavailableError` otherwise. */
  health(): Promise<void>;
  /** Creates a new KEK version and makes it current (Key Vault: `rotateKey`). Returns its versioned id. */
  rotate?(): Promise<string>;
  /** When the current KEK version was created, if the provider knows (cryptoperiod warnings). */
  currentKeyCreatedAt?(): Date | undefined;
  /**
   * Subscribes to throttling answers (429/503 with a wait), so background jobs can slow down.
   * Returns the unsubscribe function.
   */
  onThrottle?(listener: (retryAfterMs: number) => void): () => void;
}

export class KeyProviderUnavailableError extends UnavailableError {
  /** The provider answered, but throttled past its retries (429, a Retry-After too long): up, just busy. */
  throttled = false;

  constructor() {
    super('key provider', 2);
    this.name = 'KeyProviderUnavailableError';
  }
}

/** One generic error for every unwrap/decrypt failure: no oracle about which check failed. */
export class KeyUnwrapError extends Error {
  constructor() {
    super('key unwrap failed');
    this.name = 'KeyUnwrapError';
  }
}

export const KEY_PROVIDER = Symbol('KEY_PROVIDER');
