export { TenantsModule } from './tenants.module';
export { TenantProfileService } from './tenant-profile.service';
export type { TenantProfileInput } from './tenant-profile.service';
export type { TenantProfile } from './tenant-profile.store';
export { logoUrlProblem, displayNameProblem, LOGO_URL_MAX, DISPLAY_NAME_MAX } from './tenant-profile-rules';
