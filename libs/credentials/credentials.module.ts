import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { PolicyModule } from '../policy';
import { ConnectionStore } from './connection.store';
import { IntegrationStore } from './integration.store';
import { CredentialReleaseService } from './release.service';

@Module({
  imports: [PolicyModule, AuditModule],
  providers: [IntegrationStore, ConnectionStore, CredentialReleaseService],
  exports: [IntegrationStore, ConnectionStore, CredentialReleaseService],
})
export class CredentialsModule {}
