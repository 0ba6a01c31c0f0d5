import { Module } from '@nestjs/common';
import { AuditModule } from '../../../libs/audit';
import { AuthorizationModule } from '../../../libs/authorization';
import { AuthModule } from '../../../libs/auth';
import { PolicyModule } from '../../../libs/policy';
import { TokenServiceModule } from '../../../libs/token-service';
import { AgentSecretController } from './agent-secret.controller';
import { RegisterController } from './register.controller';
import { TokenController } from './token.controller';
import { WellKnownController } from './well-known.controller';

/** The token service's HTTP surface: token endpoint, discovery documents, agent secret rotation. */
@Module({
  imports: [TokenServiceModule, AuthModule, PolicyModule, AuditModule, AuthorizationModule],
  controllers: [TokenController, WellKnownController, AgentSecretController, RegisterController],
})
export class OAuthHttpModule {}
