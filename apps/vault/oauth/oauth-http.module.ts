import { Module } from '@nestjs/common';
import { AuditModule } from '../../../libs/audit';
import { AuthorizationModule } from '../../../libs/authorization';
import { AuthModule } from '../../../libs/auth';
import { PolicyModule } from '../../../libs/policy';
import { TokenRevocationModule, TokenServiceModule } from '../../../libs/token-service';
import { TokenRevocationController } from '../admin/token-revocation.controller';
import { RevocationController } from './revocation.controller';
import { AgentSecretController } from './agent-secret.controller';
import { BcAuthorizeController } from './bc-authorize.controller';
import { RegisterController } from './register.controller';
import { TokenController } from './token.controller';
import { WellKnownController } from './well-known.controller';

/**
 * The token service's HTTP surface: token, CIBA bc-authorize, revocation and introspection endpoints, discovery documents,
 * agent secret rotation and token revocation by admins.
 */
@Module({
  imports: [TokenServiceModule, TokenRevocationModule, AuthModule, PolicyModule, AuditModule, AuthorizationModule],
  controllers: [
    TokenController,
    BcAuthorizeController,
    RevocationController,
    WellKnownController,
    AgentSecretController,
    TokenRevocationController,
    RegisterController,
  ],
})
export class OAuthHttpModule {}
