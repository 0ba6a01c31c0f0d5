import { JsonWebTokenError, NotBeforeError, TokenExpiredError } from 'jsonwebtoken';
import { DomainError } from '../kernel';

/** The reason given for a token whose audience is not the vault's (TokenVerifier.verifyAudienceLater looks for it). */
export const AUDIENCE_REFUSED = 'token audience is not accepted';

/** A 401 with a short public reason. Reasons never carry the token, claims or key material. */
export function invalidToken(reason: string): DomainError {
  return new DomainError('invalid_token', reason);
}

/**
 * Maps whatever the verification chain threw (our own `DomainError`s, jsonwebtoken's errors,
 * anything unexpected) to one `invalid_token` error. jsonwebtoken's messages can echo the
 * expected audience or issuer, so they are replaced, never passed through.
 */
export function toInvalidToken(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  if (err instanceof TokenExpiredError) return invalidToken('token has expired');
  if (err instanceof NotBeforeError) return invalidToken('token is not yet valid');
  if (err instanceof JsonWebTokenError) {
    const m = err.message;
    if (m === 'invalid signature') return invalidToken('token signature is invalid');
    if (m === 'invalid algorithm') return invalidToken('token algorithm is not accepted');
    if (m.startsWith('jwt audience invalid')) return invalidToken(AUDIENCE_REFUSED);
    if (m.startsWith('jwt issuer invalid')) return invalidToken('token issuer is not trusted');
    if (m === 'invalid exp value' || m === 'invalid nbf value') return invalidToken('token time claims are invalid');
  }
  return invalidToken('token could not be verified');
}
