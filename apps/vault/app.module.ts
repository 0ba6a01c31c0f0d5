import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditModule } from '../../libs/audit';
import { AuthModule } from '../../libs/auth';
import { ConfigModule, VaultConfig } from '../../libs/config';
import { CredentialsModule } from '../../libs/credentials';
import { CryptoModule } from '../../libs/crypto';
import { DbModule } from '../../libs/db';
import { PolicyModule } from '../../libs/policy';
import { AgentsController } from './admin/agents.controller';
import { AuditController } from './admin/audit.controller';
import { ConnectionsController } from './admin/connections.controller';
import { IntegrationsController } from './admin/integrations.controller';
import { PoliciesController } from './admin/policies.controller';
import { AuditKeyBinding, AuthRejectionAuditBinding } from './audit-bindings';
import { HealthController } from './health/health.controller';
import { OAuthHttpModule } from './oauth/oauth-http.module';
import { ReleaseController } from './release/release.controller';

@Module({})
export class AppModule {
  static forRoot(config: VaultConfig, ds: DataSource): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), DbModule.forDataSource(ds), CryptoModule, AuditModule, AuthModule, PolicyModule, CredentialsModule, AuditKeyBinding, AuthRejectionAuditBinding, OAuthHttpModule],
      controllers: [HealthController, ReleaseController, IntegrationsController, AgentsController, PoliciesController, ConnectionsController, AuditController],
    };
  }
}
