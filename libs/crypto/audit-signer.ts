import type { KeyObject } from 'node:crypto';

/** JWS names of the signature algorithms anchors use (Key Vault's names for the same). */
export type AnchorAlgorithm = 'ES256' | 'ES384' | 'ES512' | 'RS256';

/**
 * The key that signs audit anchors, held by the key provider: a Key Vault EC or RSA key used
 * through `sign` (the private key never leaves Key Vault), or for `local` a key file beside the KEK.
 * A port of its own beside `KeyProvider`, so that signing never touches the KEK's code paths.
 *
 * Pre: `init()` resolved before `sign`.
 * Post: `verify(data, sign(data))` with `publicKey(kid)` holds; signatures are JWS-form
 * (ECDSA as raw r||s), so any JOSE library can check them too.
 * Failures: `KeyProviderUnavailableError` when the provider cannot be reached.
 */
export interface AuditSigner {
  readonly kind: 'local' | 'azure';
  init(): Promise<void>;
  /** Signs `data` (hashed here with the algorithm's SHA-2); answers with the versioned key id that signed. */
  sign(data: Buffer): Promise<{ alg: AnchorAlgorithm; kid: string; sig: Buffer }>;
  /** The public key of `kid`, if `kid` names a version of this signer's key; undefined otherwise. */
  publicKey(kid: string): Promise<KeyObject | undefined>;
}

export const AUDIT_SIGNER = Symbol('AUDIT_SIGNER');

/** The SHA-2 of each algorithm: Key Vault signs a digest of exactly this size. */
export const ANCHOR_DIGEST: Record<AnchorAlgorithm, 'sha256' | 'sha384' | 'sha512'> = {
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  RS256: 'sha256',
};
