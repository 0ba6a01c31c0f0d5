import { Module } from '@nestjs/common';
import { AuthorizationModule } from '../../../libs/authorization';
import { ConnectModule } from '../../../libs/connect';
import { UsersModule } from '../../../libs/users';
import { AccountController } from './account.controller';
import { AuthCallbackController } from './auth-callback.controller';
import { AuthorizeController } from './authorize.controller';

/** The user-facing account surface: `/account`, `/t/{tenant}/account`, `/auth/callback`, `/oauth2/authorize`. */
@Module({
  imports: [ConnectModule, UsersModule, AuthorizationModule],
  controllers: [AccountController, AuthCallbackController, AuthorizeController],
})
export class AccountHttpModule {}
