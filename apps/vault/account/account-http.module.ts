import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../../../libs/approvals';
import { AuthorizationModule } from '../../../libs/authorization';
import { ConnectModule } from '../../../libs/connect';
import { TenantsModule } from '../../../libs/tenants';
import { UsersModule } from '../../../libs/users';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';
import { AccountController } from './account.controller';
import { ApprovalsController } from './approvals.controller';
import { AuthCallbackController } from './auth-callback.controller';
import { AuthorizeController } from './authorize.controller';

/** The user-facing account surface: `/account`, `/t/{tenant}/account`, approval pages, `/auth/callback`, `/oauth2/authorize`. */
@Module({
  imports: [ConnectModule, UsersModule, TenantsModule, AuthorizationModule, ApprovalsModule],
  controllers: [AccountController, ApprovalsController, AuthCallbackController, AuthorizeController],
  providers: [PageIpRateLimitGuard],
})
export class AccountHttpModule {}
