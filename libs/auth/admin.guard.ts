import { Injectable } from '@nestjs/common';
import { DomainError } from '../kernel';
import { VerifiedToken } from './verified-token';
import { VerifiedTokenGuard } from './verified-token.guard';

/** The scope every admin call needs. */
export const ADMIN_SCOPE = 'vault:admin';

/**
 * What makes a verified token an admin's (the API's guard and the dashboard share it): a user or
 * service token, never one carrying `act` (an agent acting for an admin is not an admin: 403
 * `not_a_user_token`, issue 22), with the `vault:admin` scope.
 */
export function authorizeAdmin(token: VerifiedToken, missingScope = `this call requires the ${ADMIN_SCOPE} scope`): void {
  if (token.agent !== undefined)
    throw new DomainError(
      'not_a_user_token',
      'admin calls need a user or service token; this token carries act (an agent acting for someone)',
    );
  if (!token.scopes.includes(ADMIN_SCOPE)) throw new DomainError('forbidden', missingScope);
}

/** For the admin API: a verified token with `vault:admin`; it administers the tenant of its tenant claim. */
@Injectable()
export class AdminGuard extends VerifiedTokenGuard {
  protected override authorize(token: VerifiedToken): void {
    authorizeAdmin(token);
  }
}
