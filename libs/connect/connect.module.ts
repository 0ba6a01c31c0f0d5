import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { ConnectionsModule } from '../connections';
import { OAuthModule } from '../oauth';
import { PolicyModule } from '../policy';
import { TenantsModule } from '../tenants';
import { AccountViewService } from './account-view.service';
import { AuthorizationFlow } from './authorization-flow.service';
import { ConnectSessionService } from './connect-session.service';
import { ConnectSessionStore } from './connect-session.store';
import { ConsentActions } from './consent-actions.service';
import { ConsentViewService } from './consent-view.service';
import { DisconnectService } from './disconnect.service';

/**
 * Users connect their accounts: connect sessions, the authorization code flow, the consent and
 * connections pages' reads and actions, disconnect. `ConnectSessionService` is also the
 * `ConnectLinkIssuer` the release path offers `connect_url`s through (bind it to `CONNECT_LINKS`).
 */
@Module({
  imports: [ConnectionsModule, OAuthModule, PolicyModule, AuditModule, TenantsModule],
  providers: [
    ConnectSessionStore,
    ConnectSessionService,
    AuthorizationFlow,
    ConsentActions,
    ConsentViewService,
    DisconnectService,
    AccountViewService,
  ],
  exports: [AccountViewService, ConnectSessionService, AuthorizationFlow, ConsentActions, ConsentViewService, DisconnectService],
})
export class ConnectModule {}
