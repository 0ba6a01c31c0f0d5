import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditModule } from '../../libs/audit';
import { AuditAnchorsModule } from '../../libs/audit-anchors';
import { RefreshWorkerModule } from '../../libs/refresh';
import { ConfigModule, VaultConfig } from '../../libs/config';
import { CryptoModule } from '../../libs/crypto';
import { DbModule } from '../../libs/db';
import { AuditKeyBinding, KeysModule, KeysModuleOptions } from '../../libs/keys';
import { WebhooksModule } from '../../libs/webhooks';

/**
 * The worker's Nest application context (no HTTP): refresh, key jobs, the key scheduler, webhooks, signed
 * audit anchors, housekeeping. The CLI composes its own (apps/cli/keys-context.module.ts).
 */
@Module({})
export class WorkerModule {
  static forRoot(config: VaultConfig, ds: DataSource, keys: KeysModuleOptions, refresh = { run: false }): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        DbModule.forDataSource(ds),
        CryptoModule,
        AuditModule,
        AuditKeyBinding,
        KeysModule.forRoot(keys),
        RefreshWorkerModule.forRoot(refresh),
        WebhooksModule.forRoot({ run: refresh.run }),
        AuditAnchorsModule.forRoot({ run: refresh.run }),
      ],
    };
  }
}
