import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { ConnectionsModule } from '../connections';
import { PolicyModule } from '../policy';
import { RefreshModule } from '../refresh';
import { ScopeCeilingCheck } from './ceiling-check';
import { DownscopedTokens } from './downscoped-tokens';
import { CredentialReleaseService } from './release.service';

/**
 * The release use case and its scope ceiling. Needs `CONNECT_LINKS` bound globally by the app, so
 * that forgetting it fails at boot: 404/409 release refusals carry a `connect_url`
 * (`NoConnectLinksModule` where none can be offered); and, through the connections context,
 * `CONNECTION_EVENTS`.
 */
@Module({
  imports: [ConnectionsModule, RefreshModule, PolicyModule, AuditModule],
  providers: [DownscopedTokens, ScopeCeilingCheck, CredentialReleaseService],
  exports: [CredentialReleaseService, ScopeCeilingCheck],
})
export class ReleaseModule {}
