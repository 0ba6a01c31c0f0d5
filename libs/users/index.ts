export { UsersModule } from './users.module';
export { UserLoginAdminService } from './user-login-admin.service';
export type { UserLoginInput } from './user-login-admin.service';
export type { UserLogin } from './user-login.store';
export type { UserSession, UserSessionInfo } from './user-session.store';
export { UserSessionAdminService } from './user-session-admin.service';
export { UserSignIn, CALLBACK_PATH } from './user-sign-in.service';
