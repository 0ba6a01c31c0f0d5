import { Policy } from './policy.evaluator';

/** An agent (client id, or '*' for any) some allow policy lets act on an integration for a user; `rolesAny` empty: with no role condition. */
export interface AgentReach {
  agent: string;
  rolesAny: string[];
}

/**
 * Which agents the tenant's policies could let act on `integration` for `subject`, for the consent
 * and connections pages (roles are not known there, so a role condition is reported, not decided).
 * A deny without a role condition removes its agents (all of them with '*'); a deny with one cannot
 * be judged here and removes nothing. An agent allowed unconditionally by one policy is reported
 * without condition even when another allows it only with a role.
 */
export function agentReach(policies: readonly Policy[], integration: string, subject: string): AgentReach[] {
  const applies = (p: Policy) =>
    (p.integrations.includes('*') || p.integrations.includes(integration)) &&
    (!p.users.subjects?.length || p.users.subjects.includes(subject));
  const denies = policies.filter((p) => p.effect === 'deny' && applies(p) && !p.users.roles_any?.length);
  if (denies.some((d) => d.agents.includes('*'))) return [];
  const denied = new Set(denies.flatMap((d) => d.agents));
  const out = new Map<string, AgentReach>();
  for (const p of policies.filter((x) => x.effect === 'allow' && applies(x))) {
    const rolesAny = p.users.roles_any ?? [];
    for (const agent of p.agents) {
      if (denied.has(agent)) continue;
      if (out.get(agent)?.rolesAny.length === 0) continue;
      out.set(agent, { agent, rolesAny });
    }
  }
  return [...out.values()];
}
