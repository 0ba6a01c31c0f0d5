import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { DomainError, TenantId } from '../kernel';
import { UserSessionInfo, UserSessionStore } from './user-session.store';

/** Subjects as the sign-in stores them: up to 255 characters, no control characters. */
const SUBJECT = /^[^\p{Cc}]{1,255}$/u;

/**
 * `GET/DELETE /v1/admin/users/{subject}/sessions` (issue 17): an admin sees a person's live
 * sessions on `/account` and ends them all, e.g. when the person leaves or a device is lost. Ending
 * is immediate (every request checks the row) and audited as `user.sessions_revoke`.
 */
@Injectable()
export class UserSessionAdminService {
  constructor(
    private readonly sessions: UserSessionStore,
    private readonly audit: AuditLog,
  ) {}

  async list(tenant: TenantId, subject: string): Promise<UserSessionInfo[]> {
    return this.sessions.liveOf(tenant, checked(subject));
  }

  async revokeAll(tenant: TenantId, by: string, subject: string): Promise<number> {
    const revoked = await this.sessions.revokeAllOf(tenant, checked(subject));
    await this.audit.record({
      tenant,
      action: 'user.sessions_revoke',
      outcome: 'allowed',
      subject,
      details: { target: subject, revoked, by },
    });
    return revoked;
  }
}

function checked(subject: string): string {
  if (!SUBJECT.test(subject))
    throw new DomainError('validation_failed', 'subject must be 1–255 characters without control characters', {
      extra: { errors: [{ field: 'subject', message: 'must be 1–255 characters without control characters' }] },
    });
  return subject;
}
