import { createPublicKey, JsonWebKey, KeyObject } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { JwksClient, SigningKey } from 'jwks-rsa';
import { rateLimitedJwksFetcher } from './jwks-fetcher';

/** A verification key and, when the JWK declared one, the only algorithm it may be used with. */
export interface IssuerKey {
  key: KeyObject;
  alg?: string;
}

/** Looks a key up by `kid` (absent `kid`: only when the issuer has exactly one key). Rejects when unknown. */
export type KeySource = (kid: string | undefined) => Promise<IssuerKey>;

/**
 * At most this many JWKS fetches per issuer per minute: tokens with unknown `kid`s
 * (each a cache miss) cannot make us hammer the issuer's endpoint.
 */
export const JWKS_REQUESTS_PER_MINUTE = 10;
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
const JWKS_TIMEOUT_MS = 5_000;

const logger = new Logger('TrustedIssuerRegistry');

/**
 * Keys from `jwks_uri` through jwks-rsa: cached per `kid`; a miss refetches through a
 * fetcher that allows `JWKS_REQUESTS_PER_MINUTE` and never queues (see jwks-fetcher.ts).
 */
export function jwksUriKeySource(issuer: string, jwksUri: string): KeySource {
  const client = new JwksClient({
    jwksUri,
    cache: true,
    cacheMaxEntries: 32,
    cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
    // jwks-rsa's limiter would queue callers; the fetcher below enforces the budget instead.
    rateLimit: false,
    fetcher: rateLimitedJwksFetcher({
      requestsPerMinute: JWKS_REQUESTS_PER_MINUTE,
      timeoutMs: JWKS_TIMEOUT_MS,
      onFetchError: (err) => logger.warn(`JWKS of issuer ${issuer} could not be fetched: ${err.message}`),
    }),
  });
  // jwks-rsa's cache hands back the same SigningKey object on a hit; keep its parsed KeyObject.
  const parsed = new WeakMap<SigningKey, KeyObject>();
  return async (kid) => {
    const signingKey = await client.getSigningKey(kid);
    let key = parsed.get(signingKey);
    if (!key) {
      key = createPublicKey(signingKey.getPublicKey());
      parsed.set(signingKey, key);
    }
    return { key, alg: typeof signingKey.alg === 'string' ? signingKey.alg : undefined };
  };
}

/**
 * Keys given inline in the configuration, parsed once. A key that is not a usable public
 * key (e.g. `kty: "oct"`) refuses the boot rather than being skipped silently.
 */
export function inlineJwksKeySource(issuer: string, jwks: { keys: Array<Record<string, unknown>> }): KeySource {
  const keys: Array<IssuerKey & { kid?: string }> = [];
  for (const jwk of jwks.keys) {
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch {
      throw new Error(`TRUSTED_ISSUERS: a key in the inline jwks of ${issuer} is not a usable public key`);
    }
    keys.push({ key, kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, alg: typeof jwk.alg === 'string' ? jwk.alg : undefined });
  }
  if (keys.length === 0) throw new Error(`TRUSTED_ISSUERS: the inline jwks of ${issuer} has no signing keys`);
  return async (kid) => {
    const found = kid === undefined ? (keys.length === 1 ? keys[0] : undefined) : keys.find((k) => k.kid === kid);
    if (!found) throw new Error('signing key not found');
    return { key: found.key, alg: found.alg };
  };
}
