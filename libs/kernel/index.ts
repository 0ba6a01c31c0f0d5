export { Secret, constantTimeEqual } from './secret';
export { DomainError, UnavailableError, ErrorCodes } from './errors';
export type { ErrorCode, ErrorDetails } from './errors';
export { asTenantId } from './tenant';
export type { TenantId } from './tenant';
export type { AdminActor } from './admin-actor';
