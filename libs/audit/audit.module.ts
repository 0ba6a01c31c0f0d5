import { Module } from '@nestjs/common';
import { AuditLog } from './audit-log';

/**
 * Provides `AuditLog`. Needs, from the app: `DataSource` (DbModule), `VAULT_CONFIG`
 * (ConfigModule) and `AUDIT_MAC_KEY` (an `AuditMacKeySource`, bound to the keyring in a
 * global module). On shutdown `AuditLog` drains its queue in `beforeApplicationShutdown`,
 * which Nest runs before any `onApplicationShutdown` (where DbModule closes the pool).
 */
@Module({
  providers: [AuditLog],
  exports: [AuditLog],
})
export class AuditModule {}
