import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { ConnectionsModule } from '../connections';
import { ConnectionRefresher } from './connection-refresher';

/** The refresh protocol (DESIGN.md "Refresh"), for the release path (on demand) and the worker (scheduled). */
@Module({
  imports: [ConnectionsModule, AuditModule],
  providers: [ConnectionRefresher],
  exports: [ConnectionRefresher, ConnectionsModule],
})
export class RefreshModule {}
