import { Module } from '@nestjs/common';
import { AdminGuard } from './admin.guard';
import { AgentTokenGuard } from './agent-token.guard';
import { TokenVerifier } from './token-verifier';
import { TrustedIssuerRegistry } from './trusted-issuer.registry';

/**
 * Token verification and the guards built on it. Needs the global `VAULT_CONFIG`
 * (`ConfigModule.forRoot`). Bind `AUTH_REJECTION_SINK` where the guarded controllers can
 * see it (a global module, e.g. the audit module) to have rejections audited.
 */
@Module({
  providers: [TrustedIssuerRegistry, TokenVerifier, AgentTokenGuard, AdminGuard],
  exports: [TrustedIssuerRegistry, TokenVerifier, AgentTokenGuard, AdminGuard],
})
export class AuthModule {}
