import { DynamicModule, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { AuditModule } from '../../libs/audit';
import { AuditAnchorsModule } from '../../libs/audit-anchors';
import { AuthModule } from '../../libs/auth';
import { ConfigModule, VaultConfig } from '../../libs/config';
import { ConnectionsModule } from '../../libs/connections';
import { CryptoModule } from '../../libs/crypto';
import { DbModule } from '../../libs/db';
import { AuditKeyBinding, KeysModule } from '../../libs/keys';
import { PolicyModule } from '../../libs/policy';
import { RefreshWorkerModule } from '../../libs/refresh';
import { ReleaseModule } from '../../libs/release';
import { TenantsModule } from '../../libs/tenants';
import { ResourcesModule } from '../../libs/resources';
import { UsersModule } from '../../libs/users';
import { WebhooksModule } from '../../libs/webhooks';
import { AccountHttpModule } from './account/account-http.module';
import { AgentsController } from './admin/agents.controller';
import { AuditController } from './admin/audit.controller';
import { ConnectionsController } from './admin/connections.controller';
import { IntegrationsController } from './admin/integrations.controller';
import { KeysController, ShredController } from './admin/keys.controller';
import { PoliciesController } from './admin/policies.controller';
import { TenantController } from './admin/tenant.controller';
import { ResourcesController } from './admin/resources.controller';
import { UserLoginController } from './admin/user-login.controller';
import { UserSessionsController } from './admin/user-sessions.controller';
import { WebhooksController } from './admin/webhooks.controller';
import { AuthRejectionAuditBinding } from './audit-bindings';
import { ConnectHttpModule } from './connect/connect-http.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { HealthController } from './health/health.controller';
import { OAuthHttpModule } from './oauth/oauth-http.module';
import { OpsModule } from './ops/ops.module';
import { ReleaseRoute } from './release/release.route';

@Module({})
export class AppModule {
  /** `logger`: where request logs and (when Nest uses it) Nest's own lines go; see bootstrap. */
  static forRoot(config: VaultConfig, ds: DataSource, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DbModule.forDataSource(ds),
        CryptoModule,
        AuditModule,
        AuthModule,
        PolicyModule,
        ConnectionsModule,
        ReleaseModule,
        AuditKeyBinding,
        AuthRejectionAuditBinding,
        OAuthHttpModule,
        ConnectHttpModule,
        AccountHttpModule,
        UsersModule,
        TenantsModule,
        ResourcesModule,
        DashboardModule,
        KeysModule.forRoot({ runJobs: config.keys.jobsInProcess, background: true }),
        RefreshWorkerModule.forRoot({ run: config.refresh.inProcess }),
        WebhooksModule.forRoot({ run: config.webhooks.inProcess }),
        AuditAnchorsModule.forRoot({ run: config.auditAnchors.inProcess }),
        OpsModule.forRoot(config, logger),
      ],
      controllers: [
        HealthController,
        IntegrationsController,
        AgentsController,
        PoliciesController,
        ConnectionsController,
        AuditController,
        KeysController,
        ShredController,
        WebhooksController,
        UserLoginController,
        UserSessionsController,
        TenantController,
        ResourcesController,
      ],
      // POST /v1/connections/{integration}/token: a plain Fastify route (see ReleaseRoute).
      providers: [ReleaseRoute],
    };
  }
}
