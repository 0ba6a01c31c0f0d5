import { Injectable } from '@nestjs/common';
import { TenantId } from '../kernel';
import { AgentReach, agentReach } from './agent-reach';
import { evaluatePolicies, PolicyDecision, rolesFromClaims, ScopeReach, scopeReach } from './policy.evaluator';
import { PolicySnapshot, PolicySnapshots } from './policy-snapshots';

/** What a decision is asked about: who acts, for which user (and the claims of their token), on what. */
export interface DecisionQuery {
  agent: string;
  integration: string;
  /** The user; absent when the agent acts for itself (policy by agent alone: policies that name users do not apply). */
  subject?: string;
  /** The subject token's claims: roles and groups are read from them here, nowhere else. */
  claims: Record<string, unknown>;
}

/**
 * The one place policy is decided (issue 16 point 1): the release, the token exchange (per
 * scope) and consent (what any policy could ever allow, and for which agents) all ask here, so a new condition —
 * a time of day, an approval — is added to the query and the evaluator, not to each caller.
 * Reads the tenant's snapshot: no query on the release path while it is cached.
 */
@Injectable()
export class PolicyDecisionPoint {
  constructor(private readonly snapshots: PolicySnapshots) {}

  decide(tenant: TenantId, q: DecisionQuery): Promise<PolicyDecision> {
    // From the cached snapshot without awaiting it (no promise but the answer's) when there is one.
    const cached = this.snapshots.cached(tenant);
    if (!cached) return this.snapshots.get(tenant).then((s) => this.decideOn(s, q));
    try {
      return Promise.resolve(this.decideOn(cached, q));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** `decide`'s answer when the tenant's snapshot is cached, without a promise (the release path); undefined: ask `decide`. */
  decideCached(tenant: TenantId, q: DecisionQuery): PolicyDecision | undefined {
    const cached = this.snapshots.cached(tenant);
    return cached && this.decideOn(cached, q);
  }

  private decideOn({ policies, userDenies }: PolicySnapshot, q: DecisionQuery): PolicyDecision {
    const decision = evaluatePolicies(policies, {
      agent: q.agent,
      integration: q.integration,
      subject: q.subject,
      roles: rolesFromClaims(q.claims),
    });
    // A user's own switch is a deny that wins over every tenant allow.
    if (decision.allowed && q.subject !== undefined && userDenies.has(q.subject, q.integration, q.agent)) {
      return { allowed: false, reason: 'policy_denied', policy: null, inputs: { ...decision.inputs, user_switch: 'off' } };
    }
    return decision;
  }

  /** Which agents the user has switched off for `integration` (the account page). Read fresh: not a hot path. */
  async switchedOff(tenant: TenantId, subject: string, integration: string, agents: readonly string[]): Promise<Set<string>> {
    const { userDenies } = await this.snapshots.get(tenant, true);
    return new Set(agents.filter((a) => userDenies.has(subject, integration, a)));
  }

  /** What the tenant's policies could ever allow of an integration (consent asks for no more). Read fresh: not a hot path. */
  async reach(tenant: TenantId, integration: string): Promise<ScopeReach> {
    return scopeReach((await this.snapshots.get(tenant, true)).policies, integration);
  }

  /** Which agents policies could let act on `integration` for `subject` (what the consent page lists). Read fresh: not a hot path. */
  async agentReach(tenant: TenantId, integration: string, subject: string): Promise<AgentReach[]> {
    return agentReach((await this.snapshots.get(tenant, true)).policies, integration, subject);
  }
}
