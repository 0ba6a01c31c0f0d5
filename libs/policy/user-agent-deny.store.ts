import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { TenantId } from '../kernel';

/** One switch: whose, for which of their connections (the integration) and which agent. */
export interface UserAgentSwitch {
  tenant: TenantId;
  subject: string;
  integration: string;
  agent: string;
}

/**
 * SQL of `user_agent_denies`: a row is a user's own switch that is off. The decision point reads the rows
 * with the tenant's policy snapshot (`PolicySnapshots`, one query for the release path).
 */
@Injectable()
export class UserAgentDenyStore {
  constructor(private readonly ds: DataSource) {}

  /**
   * Turns the switch on (deletes its row) or off (inserts it) and, in the same transaction, runs `then` with
   * whether anything changed: if `then` throws, the change rolls back.
   */
  async set(s: UserAgentSwitch, on: boolean, then: (changed: boolean) => Promise<void>): Promise<void> {
    await this.ds.transaction(async (m) => {
      const args = [s.tenant, s.subject, s.integration, s.agent];
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
      await then(changed);
    });
  }
}
