import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { TenantProfileService } from './tenant-profile.service';
import { TenantProfileStore } from './tenant-profile.store';

/** How a tenant presents itself to people (display name, logo). Needs the global data source. */
@Module({
  imports: [AuditModule],
  providers: [TenantProfileStore, TenantProfileService],
  exports: [TenantProfileService],
})
export class TenantsModule {}
