import { DynamicModule, Module } from '@nestjs/common';
import { AuditLog, AuditModule } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { ConnectionsModule } from '../connections';
import { AadResealJob } from './aad-reseal.job';
import { CryptoShredder } from './crypto-shredder';
import { KekRotationJob } from './kek-rotation.job';
import { KeyAdminService } from './key-admin.service';
import { KEYS_OPTIONS, KeyBackgroundTasks, KeysModuleOptions } from './key-background';
import { KeyJobRunner } from './key-job.runner';
import { KeyJobStore } from './key-job.store';
import { KeyScheduler } from './key-scheduler';
import { KeyStatusService } from './key-status.service';
import { TenantKeyCacheSync } from './tenant-key-cache-sync';
import { TenantKeyRotationJob } from './tenant-key-rotation.job';

/**
 * Key rotation, retirement and crypto-shredding (issue 5). Needs, from the app: DataSource,
 * VAULT_CONFIG, the CryptoModule (global) and an AUDIT_MAC_KEY binding for the audit log.
 */
@Module({})
export class KeysModule {
  static forRoot(options: KeysModuleOptions): DynamicModule {
    return {
      module: KeysModule,
      imports: [AuditModule, ConnectionsModule],
      providers: [
        { provide: KEYS_OPTIONS, useValue: options },
        KeyJobStore,
        KekRotationJob,
        TenantKeyRotationJob,
        AadResealJob,
        KeyStatusService,
        CryptoShredder,
        KeyAdminService,
        KeyScheduler,
        TenantKeyCacheSync,
        {
          provide: KeyJobRunner,
          inject: [KeyJobStore, KekRotationJob, TenantKeyRotationJob, AadResealJob, AuditLog, VAULT_CONFIG],
          useFactory: (
            store: KeyJobStore,
            kek: KekRotationJob,
            tk: TenantKeyRotationJob,
            aad: AadResealJob,
            audit: AuditLog,
            c: VaultConfig,
          ) =>
            new KeyJobRunner(store, [kek, tk, aad], audit, { leaseMs: c.keys.leaseMs, pollMs: Math.min(1000, c.keys.schedulerIntervalMs) }),
        },
        KeyBackgroundTasks,
      ],
      exports: [KeyStatusService, KeyAdminService, KeyJobRunner, KeyScheduler, TenantKeyCacheSync],
    };
  }
}
