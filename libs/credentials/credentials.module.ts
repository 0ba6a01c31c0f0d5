import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { OAuthModule } from '../oauth';
import { PolicyModule } from '../policy';
import { ConnectionRefresher } from './connection-refresher';
import { ConnectionStore } from './connection.store';
import { IntegrationStore } from './integration.store';
import { OAuthAppCredentialReader } from './oauth-app-credentials';
import { OAuthCredentialStore } from './oauth-credential.store';
import { CredentialReleaseService } from './release.service';
import { DerivedTokenStore } from './derived-token.store';
import { DownscopedTokens } from './downscoped-tokens';
import { ScopeCeilingCheck } from './ceiling-check';
import { ConnectionAdminService } from './connection-admin.service';
import { IntegrationAdminService } from './integration-admin.service';

/**
 * Integrations, connections and the release path. Needs two global bindings from the app, so that
 * forgetting one fails at boot: `CONNECT_LINKS` (404/409 release refusals carry a `connect_url`;
 * `NoConnectLinksModule` where none can be offered) and `CONNECTION_EVENTS` (libs/webhooks' outbox).
 */
@Module({
  imports: [PolicyModule, AuditModule, OAuthModule],
  providers: [
    IntegrationStore,
    ConnectionStore,
    OAuthCredentialStore,
    OAuthAppCredentialReader,
    ConnectionRefresher,
    DerivedTokenStore,
    DownscopedTokens,
    ScopeCeilingCheck,
    CredentialReleaseService,
    IntegrationAdminService,
    ConnectionAdminService,
  ],
  exports: [
    IntegrationStore,
    ConnectionStore,
    OAuthCredentialStore,
    OAuthAppCredentialReader,
    ConnectionRefresher,
    CredentialReleaseService,
    ScopeCeilingCheck,
    IntegrationAdminService,
    ConnectionAdminService,
    OAuthModule,
  ],
})
export class CredentialsModule {}
