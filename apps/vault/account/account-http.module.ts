import { Module } from '@nestjs/common';
import { ConnectModule } from '../../../libs/connect';
import { TenantsModule } from '../../../libs/tenants';
import { UsersModule } from '../../../libs/users';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';
import { AccountController } from './account.controller';
import { AuthCallbackController } from './auth-callback.controller';

/** The user-facing account surface: `/account`, `/t/{tenant}/account`, `/auth/callback`. */
@Module({
  imports: [ConnectModule, UsersModule, TenantsModule],
  controllers: [AccountController, AuthCallbackController],
  providers: [PageIpRateLimitGuard],
})
export class AccountHttpModule {}
