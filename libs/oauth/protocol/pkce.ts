import { createHash, randomBytes } from 'node:crypto';

/** 256 bits from the CSPRNG, base64url (43 characters): PKCE verifiers, `state`, URL and cookie secrets. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier))). The only method the vault sends. */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** A fresh PKCE pair (SECURITY 15: the verifier comes from the CSPRNG). */
export function newPkce(): { verifier: string; challenge: string; method: 'S256' } {
  const verifier = randomSecret();
  return { verifier, challenge: s256(verifier), method: 'S256' };
}
