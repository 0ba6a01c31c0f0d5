import { Module } from '@nestjs/common';
import { AdminGuard } from './admin.guard';
import { AgentTokenGuard } from './agent-token.guard';
import { DpopProofVerifier } from './dpop';
import { TokenVerifier } from './token-verifier';
import { TrustedIssuerRegistry } from './trusted-issuer.registry';

/**
 * Token verification and the guards built on it. Needs the global `VAULT_CONFIG`
 * (`ConfigModule.forRoot`) and a global `AUTH_REJECTION_SINK` binding (the API audits rejections,
 * SECURITY.md 1): required, so an app that forgets it fails at boot instead of refusing unaudited.
 */
@Module({
  providers: [TrustedIssuerRegistry, TokenVerifier, DpopProofVerifier, AgentTokenGuard, AdminGuard],
  exports: [TrustedIssuerRegistry, TokenVerifier, DpopProofVerifier, AgentTokenGuard, AdminGuard],
})
export class AuthModule {}
