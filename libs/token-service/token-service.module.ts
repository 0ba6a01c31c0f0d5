import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../approvals';
import { AuditModule } from '../audit';
import { AuthModule } from '../auth';
import { PolicyModule } from '../policy';
import { ReleaseModule } from '../release';
import { ResourcesModule } from '../resources';
import { ResourceTokenIssuer } from './grants/resource-token';
import { AuthorizationCodeGrants } from './grants/authorization-code.grant';
import { AuthorizationModule } from '../authorization';
import { ClientAssertionReplayStore } from './assertion-replay.store';
import { ClientAuthenticator } from './client-authenticator';
import { AgentTokenGrant } from './grants/agent-token.grant';
import { CibaGrant } from './grants/ciba.grant';
import { TokenServiceMetadata } from './metadata';
import { SigningKeyStore } from './signing-key.store';
import { TokenSigningKeys } from './signing-keys';
import { TokenExchangeService } from './token-exchange.service';
import { VaultIssuerRegistration } from './vault-issuer';

/**
 * The vault's own token service (RFC 8693). Needs, from the app: `VAULT_CONFIG`, the
 * `DataSource`, `SystemKeys` (CryptoModule) and what AuditModule needs. Registers the vault
 * as a trusted issuer at init.
 */
@Module({
  imports: [AuthModule, PolicyModule, AuditModule, ReleaseModule, ResourcesModule, AuthorizationModule, ApprovalsModule],
  providers: [
    SigningKeyStore,
    TokenSigningKeys,
    ClientAssertionReplayStore,
    ClientAuthenticator,
    TokenExchangeService,
    AgentTokenGrant,
    ResourceTokenIssuer,
    AuthorizationCodeGrants,
    TokenServiceMetadata,
    VaultIssuerRegistration,
    CibaGrant,
  ],
  exports: [CibaGrant, TokenExchangeService, TokenSigningKeys, TokenServiceMetadata, ClientAuthenticator],
})
export class TokenServiceModule {}
