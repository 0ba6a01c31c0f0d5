import { Module } from '@nestjs/common';
import { AuditModule } from '../../../libs/audit';
import { AuthModule } from '../../../libs/auth';
import { ConnectionsModule } from '../../../libs/connections';
import { KeyJobStore, KeyStatusService } from '../../../libs/keys';
import { DashboardController } from './dashboard.controller';
import { DashboardPageFilter } from './dashboard-page.filter';
import { DashboardIpRateLimitGuard } from './dashboard-rate-limit';
import { DashboardSession } from './dashboard-session';
import { DashboardService } from './dashboard.service';

/**
 * `/dashboard`. KeysModule is configured once by the app (with its background tasks), so the
 * two read-only, stateless services the status view needs are provided here instead of importing it.
 * The rate limits are the app's (RouteRateLimits, from its global ops module).
 */
@Module({
  imports: [AuditModule, AuthModule, ConnectionsModule],
  controllers: [DashboardController],
  providers: [DashboardSession, DashboardService, DashboardPageFilter, DashboardIpRateLimitGuard, KeyJobStore, KeyStatusService],
})
export class DashboardModule {}
