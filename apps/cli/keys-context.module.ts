import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditModule } from '../../libs/audit';
import { ConfigModule, VaultConfig } from '../../libs/config';
import { CryptoModule } from '../../libs/crypto';
import { DbModule } from '../../libs/db';
import { AuditKeyBinding, KeysModule } from '../../libs/keys';
import { WebhooksModule } from '../../libs/webhooks';

/**
 * What `cli keys` needs (no HTTP, no background duties): the keyring, the audit log, key jobs
 * and, so that connection changes a key operation makes still reach the outbox, the webhooks
 * context with its dispatcher off. Composed from the libs like the worker's module.
 */
@Module({})
export class KeysContextModule {
  static forRoot(config: VaultConfig, ds: DataSource): DynamicModule {
    return {
      module: KeysContextModule,
      imports: [
        ConfigModule.forRoot(config),
        DbModule.forDataSource(ds),
        CryptoModule,
        AuditModule,
        AuditKeyBinding,
        KeysModule.forRoot({ runJobs: false, background: false }),
        WebhooksModule.forRoot({ run: false }),
      ],
    };
  }
}
