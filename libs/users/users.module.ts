import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { OAuthModule } from '../oauth';
import { UserLoginAdminService } from './user-login-admin.service';
import { UserLoginFlowStore } from './user-login-flow.store';
import { UserLoginStore } from './user-login.store';
import { UserSessionAdminService } from './user-session-admin.service';
import { UserSessionStore } from './user-session.store';
import { UserSignIn } from './user-sign-in.service';

/** People signing in to the vault: the tenant's OpenID provider, sign-in flows and sessions. Needs the global config, data source and keyring. */
@Module({
  imports: [AuditModule, OAuthModule],
  providers: [UserLoginStore, UserLoginFlowStore, UserLoginAdminService, UserSessionStore, UserSessionAdminService, UserSignIn],
  exports: [UserLoginAdminService, UserSessionAdminService, UserSignIn],
})
export class UsersModule {}
