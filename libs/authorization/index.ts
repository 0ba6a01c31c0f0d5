export { AuthorizationModule } from './authorization.module';
export { AuthorizeService } from './authorize.service';
export type { Authorizer, AuthorizeStep, ValidAuthorizeRequest } from './authorize.service';
export { AuthorizationStore } from './authorization.store';
export type { Consent, Grant } from './authorization.store';
export { ClientRegistry, RegistrationError, UnknownClientError } from './client-registry';
export type { OAuthClientInfo } from './client-registry';
export { CIMD_MAX_BYTES } from './client-metadata-documents';
export { redirectUriMatches, redirectUriProblem } from './redirect-uris';
