import { KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { MAX_TOKEN_LENGTH } from '../auth';
import { OAuthError } from './oauth-error';

export interface AssertionKey {
  key: KeyObject;
  /** When the JWK names one, the only algorithm the key may be used with. */
  alg?: string;
}

export interface AssertionCheck {
  /** The exact `iss` expected. */
  issuer: string;
  /** `aud` must contain one of these. */
  audiences: string[];
  /** Asymmetric algorithms only. */
  algorithms: ReadonlySet<string>;
  key(kid: string | undefined): Promise<AssertionKey>;
  skewSeconds: number;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const MAX_KID = 256;

/** Header and payload of a compact JWS, NOT verified: only to decide how to verify it. */
export function peekJwt(raw: string): { header: Record<string, unknown>; payload: Record<string, unknown> } | undefined {
  if (typeof raw !== 'string' || raw.length > MAX_TOKEN_LENGTH) return undefined;
  const parts = raw.split('.');
  if (parts.length !== 3 || !SEGMENT.test(parts[0]) || !SEGMENT.test(parts[1])) return undefined;
  try {
    const [header, payload] = [parts[0], parts[1]].map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as unknown);
    if (!isObject(header) || !isObject(payload)) return undefined;
    return { header, payload };
  } catch {
    return undefined;
  }
}

/**
 * Verifies a client assertion (RFC 7523 §3): algorithm in the allowlist and matching the key,
 * signature, `iss`, `aud`, `exp` (required) and `nbf` within the skew. The `jku`, `x5u`, `jwk`
 * and `x5c` headers are never read; keys come only from `check.key`. Any failure is
 * `invalid_client` with a short public reason.
 */
export async function verifyAssertion(raw: string, check: AssertionCheck): Promise<Record<string, unknown>> {
  const peeked = peekJwt(raw);
  if (!peeked) throw invalid('client assertion is malformed');
  const { header } = peeked;
  if (header.crit !== undefined) throw invalid('client assertion uses unsupported critical headers');
  const alg = header.alg;
  if (typeof alg !== 'string' || !check.algorithms.has(alg)) throw invalid('client assertion algorithm is not accepted');
  const kid = header.kid;
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID))
    throw invalid('client assertion key is not known');
  let key: AssertionKey;
  try {
    key = await check.key(kid);
  } catch {
    throw invalid('client assertion key is not known');
  }
  if (key.key.type !== 'public') throw invalid('client assertion key is not known');
  if (key.alg !== undefined && key.alg !== alg) throw invalid('client assertion algorithm is not accepted');

  let payload: Record<string, unknown>;
  try {
    payload = jwt.verify(raw, key.key, {
      algorithms: [alg as jwt.Algorithm],
      issuer: check.issuer,
      audience: check.audiences as [string, ...string[]],
      clockTolerance: check.skewSeconds,
    }) as Record<string, unknown>;
  } catch (err) {
    throw invalid(reasonOf(err));
  }
  // `1e999` parses to Infinity and passes jsonwebtoken's expiry check.
  if (typeof payload.exp !== 'number' || !Number.isSafeInteger(payload.exp)) throw invalid('client assertion has no valid expiry');
  return payload;
}

function reasonOf(err: unknown): string {
  if (err instanceof jwt.TokenExpiredError) return 'client assertion has expired';
  if (err instanceof jwt.NotBeforeError) return 'client assertion is not yet valid';
  const m = err instanceof Error ? err.message : '';
  if (m.startsWith('jwt audience invalid')) return 'client assertion audience is not accepted';
  if (m.startsWith('jwt issuer invalid')) return 'client assertion issuer is not accepted';
  if (m === 'invalid signature') return 'client assertion signature is invalid';
  return 'client assertion could not be verified';
}

function invalid(reason: string): OAuthError {
  return new OAuthError('invalid_client', reason);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
