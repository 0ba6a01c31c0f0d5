import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { TenantId } from '../kernel';
import { PolicySnapshots } from './policy-snapshots';
import { UserAgentDenyStore } from './user-agent-deny.store';

/**
 * A user's own per-agent switch for one of their connections (issue 17 §2): off is a row in
 * `user_agent_denies`, which the decision point treats as a deny that wins over every tenant allow,
 * on the release and the token exchange alike. Each change is audited as `grant.revoke` /
 * `grant.restore` by the user, in the same transaction (no audit, no change).
 */
@Injectable()
export class UserGrantSwitches {
  constructor(
    private readonly denies: UserAgentDenyStore,
    private readonly snapshots: PolicySnapshots,
    private readonly audit: AuditLog,
  ) {}

  async set(tenant: TenantId, subject: string, integration: string, agent: string, on: boolean): Promise<void> {
    await this.denies.set({ tenant, subject, integration, agent }, on, async (changed) => {
      await this.audit.record({
        tenant,
        action: on ? 'grant.restore' : 'grant.revoke',
        outcome: 'allowed',
        agent,
        subject,
        integration,
        details: { by: 'user', changed },
      });
    });
    this.snapshots.changed(tenant);
  }
}
