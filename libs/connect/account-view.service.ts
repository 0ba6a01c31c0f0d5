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
  /** The agent's registered name, when it is a registered agent. */
  agentName: string | null;
  /** The integration's display title, when it still exists. */
  integrationTitle: string | null;
}

const ACTIVITY = 20;
/** How far back to look for ACTIVITY events a person cares about (the rest are skipped). */
const ACTIVITY_SCAN = 200;
/**
 * The events a person cares about in their own trail (docs/users.md "Recent activity"): what agents
 * received, what they were refused, what the person switched, approved, connected or consented to.
 * Refreshes, token issuance and key jobs are the admin's; token requests appear only when refused.
 */
const PERSONAL_ACTIONS = new Set([
  'credential.release',
  'connection.connect',
  'connection.disconnect',
  'grant.revoke',
  'grant.restore',
  'approval.request',
  'approval.approve',
  'approval.deny',
  'token.ciba',
  'oauth.authorize',
  'oauth.consent_revoke',
  'user.sign_in',
]);
const REFUSALS_ONLY = new Set(['token.exchange', 'token.issue', 'token.authorization_code', 'token.refresh']);
const personal = (e: { action: string; outcome: string }) =>
  PERSONAL_ACTIONS.has(e.action) || (e.outcome === 'denied' && REFUSALS_ONLY.has(e.action));

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
      const page = await this.audit.list(tenant, { user: subject, limit: ACTIVITY_SCAN });
      const events = page.events.filter(personal).slice(0, ACTIVITY);
      const agents = new Map((await this.agentStore.list(tenant)).map((a) => [a.client_id, a.name]));
      const names = [...new Set(events.flatMap((e) => (e.integration ? [e.integration] : [])))];
      const titles = new Map(await Promise.all(names.map(async (n) => [n, await this.views.titleOf(tenant, n)] as const)));
      return events.map((e) => ({
        at: e.at,
        action: e.action,
        outcome: e.outcome,
        reason: e.reason,
        agent: e.agent,
        integration: e.integration,
        agentName: (e.agent && agents.get(e.agent)) ?? null,
        integrationTitle: (e.integration && titles.get(e.integration)) ?? null,
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
