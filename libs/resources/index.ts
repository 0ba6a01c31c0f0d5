export { ResourcesModule } from './resources.module';
export { ResourceStore } from './resource.store';
export { ResourceAdminService } from './resource-admin.service';
export { decideResourceScopes, toResource, DEFAULT_RESOURCE_TTL_SECONDS } from './resource';
export type { Resource, ResourceInput, ResourceScope, ResourceGrants, ResourceRefusalReason } from './resource';
