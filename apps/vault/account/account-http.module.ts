import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../../../libs/approvals';
import { ConnectModule } from '../../../libs/connect';
import { TenantsModule } from '../../../libs/tenants';
import { UsersModule } from '../../../libs/users';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';
import { AccountController } from './account.controller';
import { ApprovalsController } from './approvals.controller';
import { AuthCallbackController } from './auth-callback.controller';

/** The user-facing account surface: `/account`, `/t/{tenant}/account`, approval pages, `/auth/callback`. */
@Module({
  imports: [ConnectModule, UsersModule, TenantsModule, ApprovalsModule],
  controllers: [AccountController, ApprovalsController, AuthCallbackController],
  providers: [PageIpRateLimitGuard],
})
export class AccountHttpModule {}
