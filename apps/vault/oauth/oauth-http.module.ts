import { Module } from '@nestjs/common';
import { AuditModule } from '../../../libs/audit';
import { AuthModule } from '../../../libs/auth';
import { PolicyModule } from '../../../libs/policy';
import { TokenServiceModule } from '../../../libs/token-service';
import { AgentSecretController } from './agent-secret.controller';
import { TokenController } from './token.controller';
import { WellKnownController } from './well-known.controller';

/** The token service's HTTP surface: token endpoint, discovery documents, agent secret rotation. */
@Module({
  imports: [TokenServiceModule, AuthModule, PolicyModule, AuditModule],
  controllers: [TokenController, WellKnownController, AgentSecretController],
})
export class OAuthHttpModule {}
