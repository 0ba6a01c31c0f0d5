import { Global, Module } from '@nestjs/common';
import { AuditLog, AuditModule, UNATTRIBUTED_TENANT } from '../../libs/audit';
import { AUTH_REJECTION_SINK, AuthRejectionSink } from '../../libs/auth';

const rejectionSink = {
  provide: AUTH_REJECTION_SINK,
  inject: [AuditLog],
  useFactory: (audit: AuditLog): AuthRejectionSink => ({
    async rejected(e) {
      await audit.record({
        tenant: e.tenant ?? UNATTRIBUTED_TENANT,
        action: e.route.includes(' /v1/connections/') ? 'credential.release' : 'admin.access',
        outcome: 'denied',
        reason: e.code,
        agent: e.agent,
        subject: e.subject,
        details: { route: e.route, issuer: e.issuer ?? null, detail: e.reason, ...(e.cause ? { cause: e.cause } : {}) },
      });
    },
  }),
};

/** Refused tokens are audited (SECURITY.md 1): the auth guards await this sink. */
@Global()
@Module({ imports: [AuditModule], providers: [rejectionSink], exports: [rejectionSink] })
export class AuthRejectionAuditBinding {}
