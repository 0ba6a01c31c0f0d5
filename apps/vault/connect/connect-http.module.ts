import { Global, Module } from '@nestjs/common';
import { AuthModule } from '../../../libs/auth';
import { ConnectModule, ConnectSessionService } from '../../../libs/connect';
import { CONNECT_LINKS } from '../../../libs/release';
import { UsersModule } from '../../../libs/users';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';
import { OAuthCallbackController } from './callback.controller';
import { ConnectSessionsController } from './connect-sessions.controller';
import { ConsentController } from './consent.controller';
import { MyConnectionsController } from './my-connections.controller';

const links = { provide: CONNECT_LINKS, useExisting: ConnectSessionService };

/**
 * The connect surface: `/v1/connect/sessions`, `/connect/*`, `/oauth/callback`, `/connections`.
 * Global to bind `CONNECT_LINKS` for the release path (libs/release cannot import connect) and to
 * lend `DisconnectService` to the admin API's DELETE.
 */
@Global()
@Module({
  imports: [ConnectModule, AuthModule, UsersModule],
  controllers: [ConnectSessionsController, ConsentController, OAuthCallbackController, MyConnectionsController],
  providers: [links, PageIpRateLimitGuard],
  exports: [links, ConnectModule],
})
export class ConnectHttpModule {}
