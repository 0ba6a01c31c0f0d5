export { UsersModule } from './users.module';
export { UserLoginAdminService } from './user-login-admin.service';
export type { UserLoginInput } from './user-login-admin.service';
export type { UserLogin } from './user-login.store';
export type { UserSession } from './user-session.store';
export { UserSignIn, CALLBACK_PATH } from './user-sign-in.service';
