import { Global, Module } from '@nestjs/common';
import { AUDIT_MAC_KEY } from '../audit';
import { SystemKeys } from '../crypto';

const macKey = {
  provide: AUDIT_MAC_KEY,
  inject: [SystemKeys],
  useFactory: (keys: SystemKeys) => ({ macKey: () => keys.get('audit-mac') }),
};

/**
 * The audit log's MAC key comes from the keyring (a system key wrapped by the KEK). Here, not in
 * libs/audit, so the audit log stays independent of the keyring (tests bind a plain key); every
 * process that writes audit records (API, worker, CLI) imports it.
 */
@Global()
@Module({ providers: [macKey], exports: [macKey] })
export class AuditKeyBinding {}
