import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { DomainError, TenantId } from '../kernel';
import { AgentStore, PolicyDecisionPoint, UserGrantSwitches } from '../policy';
import { ConnectionRow, ConsentViewService } from './consent-view.service';

/** An agent policy lets use a connection, and the user's own switch for it. */
export interface AccountAgent {
  clientId: string;
  name: string;
  /** A plain-words condition ("only when you have the role …"), or null. */
  condition: string | null;
  on: boolean;
}

export type AccountConnection = ConnectionRow & { agents: AccountAgent[] };

/** One line of the user's own recent activity (from the audit log: events naming them). */
export interface ActivityRow {
  at: string;
  action: string;
  outcome: string;
  reason: string | null;
  agent: string | null;
  integration: string | null;
}

const ACTIVITY = 20;

/**
 * What `/account` shows a signed-in user (issue 17 §2), and their per-agent switches. The agents
 * listed are those policy could let use the connection for this user ("any agent" spelled out as
 * the registered ones, since a switch is per agent); the switch itself is a deny input to the
 * decision point (libs/policy UserGrantSwitches).
 */
@Injectable()
export class AccountViewService {
  constructor(
    private readonly views: ConsentViewService,
    private readonly decisions: PolicyDecisionPoint,
    private readonly agentStore: AgentStore,
    private readonly switches: UserGrantSwitches,
    private readonly audit: AuditLog,
  ) {}

  async connections(tenant: TenantId, subject: string): Promise<AccountConnection[]> {
    const [rows, registered] = await Promise.all([this.views.connectionsOf(tenant, subject), this.agentStore.list(tenant)]);
    const names = new Map(registered.map((a) => [a.client_id, a.name]));
    return Promise.all(
      rows.map(async (r) => {
        const reach = await this.decisions.agentReach(tenant, r.integration, subject);
        const agents = new Map<string, string | null>();
        for (const { agent, rolesAny } of reach) {
          const condition = rolesAny.length ? `only when you have the role ${rolesAny.join(' or ')}` : null;
          for (const id of agent === '*' ? [...names.keys()] : [agent])
            if (!agents.has(id) || condition === null) agents.set(id, condition);
        }
        const off = await this.decisions.switchedOff(tenant, subject, r.integration, [...agents.keys()]);
        return {
          ...r,
          agents: [...agents].map(([clientId, condition]) => ({
            clientId,
            name: names.get(clientId) ?? clientId,
            condition,
            on: !off.has(clientId),
          })),
        };
      }),
    );
  }

  async activity(tenant: TenantId, subject: string): Promise<ActivityRow[]> {
    try {
      const page = await this.audit.list(tenant, { user: subject, limit: ACTIVITY });
      return page.events.map((e) => ({
        at: e.at,
        action: e.action,
        outcome: e.outcome,
        reason: e.reason,
        agent: e.agent,
        integration: e.integration,
      }));
    } catch (err) {
      if (err instanceof DomainError && err.code === 'validation_failed') return []; // a user id the audit filter cannot express
      throw err;
    }
  }

  /** Turns an agent on or off for one of the user's own connections (only agents the page offers). */
  async setSwitch(tenant: TenantId, subject: string, integration: string, agent: string, on: boolean): Promise<void> {
    const mine = (await this.connections(tenant, subject)).find((c) => c.integration === integration);
    if (!mine?.agents.some((a) => a.clientId === agent))
      throw new DomainError('not_found', 'You have no such connection, or that agent cannot use it.');
    await this.switches.set(tenant, subject, integration, agent, on);
  }
}
