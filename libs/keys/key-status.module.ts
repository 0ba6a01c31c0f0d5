import { Module } from '@nestjs/common';
import { KeyJobStore } from './key-job.store';
import { KeyStatusService } from './key-status.service';

/**
 * Key status alone (read-only, stateless), for a module that shows it without the key jobs, scheduler
 * and background tasks KeysModule brings (the dashboard; KeysModule is configured once by the app).
 * Needs the global DataSource, VAULT_CONFIG and CryptoModule.
 */
@Module({
  providers: [KeyJobStore, KeyStatusService],
  exports: [KeyStatusService],
})
export class KeyStatusModule {}
