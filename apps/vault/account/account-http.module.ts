import { Module } from '@nestjs/common';
import { ConnectModule } from '../../../libs/connect';
import { UsersModule } from '../../../libs/users';
import { AccountController } from './account.controller';
import { AuthCallbackController } from './auth-callback.controller';

/** The user-facing account surface: `/account`, `/t/{tenant}/account`, `/auth/callback`. */
@Module({
  imports: [ConnectModule, UsersModule],
  controllers: [AccountController, AuthCallbackController],
})
export class AccountHttpModule {}
