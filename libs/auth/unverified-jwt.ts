import { invalidToken } from './auth-errors';

/** Anything longer is refused before it is parsed (large Entra ID tokens are ~8 KiB). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const SIGNATURE = /^[A-Za-z0-9_-]*$/;

export interface UnverifiedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/**
 * Decodes a compact JWS WITHOUT verifying it. Only for choosing the issuer and key;
 * nothing read here may be trusted until the signature has been checked.
 */
export function decodeUnverified(raw: string): UnverifiedJwt {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_TOKEN_LENGTH) throw malformed();
  const parts = raw.split('.');
  if (parts.length !== 3 || !SEGMENT.test(parts[0]) || !SEGMENT.test(parts[1]) || !SIGNATURE.test(parts[2])) {
    throw malformed();
  }
  return { header: parseSegment(parts[0]), payload: parseSegment(parts[1]) };
}

function parseSegment(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw malformed();
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed();
  return value as Record<string, unknown>;
}

function malformed() {
  return invalidToken('token is malformed');
}
