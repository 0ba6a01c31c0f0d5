import { KeyObject } from 'node:crypto';
import { invalidToken } from './auth-errors';
import { typMatches } from './claim-checks';
import { IssuerEntry, TrustedIssuerRegistry } from './trusted-issuer.registry';
import { decodeUnverified } from './unverified-jwt';

export interface ResolvedKey {
  issuer: IssuerEntry;
  key: KeyObject;
}

const MAX_KID_LENGTH = 256;

/**
 * Picks the issuer by the unverified `iss` and its key by `kid`, after checking `alg`
 * against that issuer's allowlist. The `jku`, `x5u`, `jwk` and `x5c` header parameters
 * are deliberately never read: keys come only from the issuer's configuration.
 */
export async function resolveSigningKey(registry: TrustedIssuerRegistry, raw: string): Promise<ResolvedKey> {
  const { header, payload } = decodeUnverified(raw);
  // We implement no JWS extensions, so any critical one must be refused (RFC 7515 §4.1.11).
  if (header.crit !== undefined) throw invalidToken('token uses unsupported critical header parameters');

  const issuer = typeof payload.iss === 'string' ? registry.get(payload.iss) : undefined;
  if (!issuer) throw invalidToken('token issuer is not trusted');

  if (issuer.requireTyp !== undefined && !typMatches(header.typ, issuer.requireTyp)) throw invalidToken('token type is not accepted');

  const alg = header.alg;
  if (typeof alg !== 'string' || !issuer.algorithms.has(alg)) throw invalidToken('token algorithm is not accepted');

  const kid = header.kid;
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH)) {
    throw invalidToken('token signing key is not known');
  }

  let found;
  try {
    found = await issuer.keys(kid);
  } catch {
    throw invalidToken('token signing key is not known');
  }
  if (!(found?.key instanceof KeyObject) || found.key.type !== 'public') throw invalidToken('token signing key is not known');
  if (found.alg !== undefined && found.alg !== alg) throw invalidToken('token algorithm is not accepted');
  return { issuer, key: found.key };
}
