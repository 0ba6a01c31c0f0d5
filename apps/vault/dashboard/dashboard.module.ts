import { Module } from '@nestjs/common';
import { AuditModule } from '../../../libs/audit';
import { AuthModule } from '../../../libs/auth';
import { ConnectionsModule } from '../../../libs/connections';
import { KeyStatusModule } from '../../../libs/keys';
import { DashboardController } from './dashboard.controller';
import { DashboardPageFilter } from './dashboard-page.filter';
import { DashboardIpRateLimitGuard } from './dashboard-rate-limit';
import { DashboardSession } from './dashboard-session';
import { DashboardService } from './dashboard.service';

/**
 * `/dashboard`. KeysModule is configured once by the app (with its background tasks), so the key
 * status comes from KeyStatusModule. The rate limits are the app's (RouteRateLimits, from its global ops module).
 */
@Module({
  imports: [AuditModule, AuthModule, ConnectionsModule, KeyStatusModule],
  controllers: [DashboardController],
  providers: [DashboardSession, DashboardService, DashboardPageFilter, DashboardIpRateLimitGuard],
})
export class DashboardModule {}
