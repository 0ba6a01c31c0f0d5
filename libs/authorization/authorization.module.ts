import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { OAuthModule } from '../oauth';
import { ResourcesModule } from '../resources';
import { AuthorizationStore } from './authorization.store';
import { AuthorizeService } from './authorize.service';
import { ClientMetadataDocuments } from './client-metadata-documents';
import { ClientRegistry } from './client-registry';

/** The authorization server for MCP clients (issue 19 §2). Needs `VAULT_CONFIG` and the `DataSource` from the app. */
@Module({
  imports: [AuditModule, OAuthModule, ResourcesModule],
  providers: [ClientMetadataDocuments, ClientRegistry, AuthorizationStore, AuthorizeService],
  exports: [ClientRegistry, AuthorizationStore, AuthorizeService],
})
export class AuthorizationModule {}
