import { Injectable, Module, OnModuleInit } from '@nestjs/common';
import { AuditModule } from '../audit';
import { AuthModule, DpopProofVerifier, TokenVerifier } from '../auth';
import { PolicyModule } from '../policy';
import { PostgresDpopReplayStore } from './dpop-replay.store';
import { TokenRevocationService } from './token-revocation.service';
import { TokenRevocationStore } from './token-revocation.store';
import { TokenRevocations } from './token-revocations';
import { TokenServiceModule } from './token-service.module';

/** Puts the revocation list in front of every token verification, and the shared DPoP replay store behind every proof. */
@Injectable()
export class TokenStatusRegistration implements OnModuleInit {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly dpop: DpopProofVerifier,
    private readonly revocations: TokenRevocations,
    private readonly replay: PostgresDpopReplayStore,
  ) {}

  onModuleInit(): void {
    this.verifier.addStatusCheck((token) => this.revocations.check(token));
    this.dpop.useSharedReplayStore(this.replay);
  }
}

/**
 * Revocation and introspection of vault tokens, and what makes them effective in this process
 * (an API process: it keeps a LISTEN connection and the revocation list in memory). Processes
 * that verify no tokens (worker, CLI) do not import it.
 */
@Module({
  imports: [TokenServiceModule, AuthModule, PolicyModule, AuditModule],
  providers: [TokenRevocationStore, TokenRevocations, PostgresDpopReplayStore, TokenRevocationService, TokenStatusRegistration],
  exports: [TokenRevocationService],
})
export class TokenRevocationModule {}
