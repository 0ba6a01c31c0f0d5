export { IntegrationStore } from './integration.store';
export type { Integration, IntegrationInput } from './integration.store';
export { ConnectionStore, TENANT_LEVEL } from './connection.store';
export type { ConnectionSummary, ConnectionRecord, ConnectionStatus } from './connection.store';
export { CredentialReleaseService } from './release.service';
export type { ReleaseCaller, ReleaseResult } from './release.service';
export { CredentialsModule } from './credentials.module';
export { PROVIDERS, OAUTH_PROVIDERS, kindOf } from './providers';
