import { DynamicModule, Module } from '@nestjs/common';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { AUDIT_SIGNER, createAuditSigner } from '../crypto';
import { AUDIT_ANCHOR_OPTIONS, AuditAnchorJob } from './audit-anchor.job';
import { AuditVerifyService } from './audit-verify.service';

/**
 * Signed anchors of the audit chain. `run`: emit them from this process (the worker; the API on the
 * embedded default). Needs DataSource, VAULT_CONFIG and AUDIT_MAC_KEY from the app.
 */
@Module({})
export class AuditAnchorsModule {
  static forRoot(opts: { run: boolean }): DynamicModule {
    return {
      module: AuditAnchorsModule,
      // Global: the admin API and the dashboard read the verification without configuring the job again.
      global: true,
      providers: [
        { provide: AUDIT_ANCHOR_OPTIONS, useValue: opts },
        // Null when Key Vault has no audit key configured: anchors are then off (warned at start).
        { provide: AUDIT_SIGNER, inject: [VAULT_CONFIG], useFactory: (c: VaultConfig) => createAuditSigner(c) ?? null },
        AuditAnchorJob,
        AuditVerifyService,
      ],
      exports: [AuditAnchorJob, AuditVerifyService, AUDIT_SIGNER],
    };
  }
}
