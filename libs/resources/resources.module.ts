import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { ResourceAdminService } from './resource-admin.service';
import { ResourceStore } from './resource.store';

/** The tenant's resources (issue 19 §1). Needs `VAULT_CONFIG` and the `DataSource` from the app. */
@Module({
  imports: [AuditModule],
  providers: [ResourceStore, ResourceAdminService],
  exports: [ResourceStore, ResourceAdminService],
})
export class ResourcesModule {}
