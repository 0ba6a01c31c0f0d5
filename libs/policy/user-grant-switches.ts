import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { TenantId } from '../kernel';
import { PolicySnapshots } from './policy-snapshots';

/**
 * A user's own per-agent switch for one of their connections (issue 17 §2): off is a row in
 * `user_agent_denies`, which the decision point treats as a deny that wins over every tenant allow,
 * on the release and the token exchange alike. Each change is audited as `grant.revoke` /
 * `grant.restore` by the user, in the same transaction (no audit, no change).
 */
@Injectable()
export class UserGrantSwitches {
  constructor(
    private readonly ds: DataSource,
    private readonly snapshots: PolicySnapshots,
    private readonly audit: AuditLog,
  ) {}

  async set(tenant: TenantId, subject: string, integration: string, agent: string, on: boolean): Promise<void> {
    await this.ds.transaction(async (m) => {
      const args = [tenant, subject, integration, agent];
      // TypeORM answers a DELETE with [rows, count] and an INSERT with its rows.
      const changed = on
        ? Number(
            (
              await m.query(`DELETE FROM user_agent_denies WHERE tenant = $1 AND subject = $2 AND integration = $3 AND agent = $4`, args)
            )[1],
          ) > 0
        : (
            await m.query(
              `INSERT INTO user_agent_denies (tenant, subject, integration, agent) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1`,
              args,
            )
          ).length > 0;
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
