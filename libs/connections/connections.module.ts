import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { OAuthModule } from '../oauth';
import { PolicyModule } from '../policy';
import { ConnectionAdminService } from './connection-admin.service';
import { ConnectionStore } from './connection.store';
import { DerivedTokenStore } from './derived-token.store';
import { IntegrationAdminService } from './integration-admin.service';
import { IntegrationStore } from './integration.store';
import { OAuthAppCredentialReader } from './oauth-app-credentials';
import { OAuthCredentialStore } from './oauth-credential.store';

/**
 * The stored state of integrations and connections: the one owner of the `connections` and
 * `integrations` tables (and the `derived_tokens` cache beside them), and their admin use cases.
 * Needs one global binding from the app, so that forgetting it fails at boot: `CONNECTION_EVENTS`
 * (libs/webhooks' outbox; `NoConnectionEvents` where nothing can be delivered).
 */
@Module({
  imports: [PolicyModule, AuditModule, OAuthModule],
  providers: [
    IntegrationStore,
    ConnectionStore,
    OAuthCredentialStore,
    OAuthAppCredentialReader,
    DerivedTokenStore,
    IntegrationAdminService,
    ConnectionAdminService,
  ],
  exports: [
    IntegrationStore,
    ConnectionStore,
    OAuthCredentialStore,
    OAuthAppCredentialReader,
    DerivedTokenStore,
    IntegrationAdminService,
    ConnectionAdminService,
    OAuthModule,
  ],
})
export class ConnectionsModule {}
