import { Injectable } from '@nestjs/common';
import { DomainError } from '../kernel';
import { VerifiedToken } from './verified-token';
import { VerifiedTokenGuard } from './verified-token.guard';

/** The scope every admin call needs. */
export const ADMIN_SCOPE = 'vault:admin';

/** For the admin API: a verified token with `vault:admin`; it administers the tenant of its tenant claim. */
@Injectable()
export class AdminGuard extends VerifiedTokenGuard {
  protected override authorize(token: VerifiedToken): void {
    if (!token.scopes.includes(ADMIN_SCOPE)) throw new DomainError('forbidden', `this call requires the ${ADMIN_SCOPE} scope`);
  }
}
