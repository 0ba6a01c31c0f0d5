import { Injectable } from '@nestjs/common';
import { DomainError } from '../kernel';
import { VerifiedToken } from './verified-token';
import { VerifiedTokenGuard } from './verified-token.guard';

/**
 * For the release endpoint: a verified token with an actor (`act.sub`). User tokens
 * (no `act`) get 403 `not_an_agent_token`. Whether that agent is registered and allowed
 * is for policy, not for this guard.
 */
@Injectable()
export class AgentTokenGuard extends VerifiedTokenGuard {
  protected override authorize(token: VerifiedToken): void {
    if (token.agent === undefined) {
      throw new DomainError('not_an_agent_token', 'an agent token (with act.sub) is required; user tokens cannot release credentials');
    }
  }
}
