import { Policy } from './policy.evaluator';

/**
 * A `policies` row as `POLICY_COLUMNS` selects it: the one row type of the table, read by the
 * policy store and by the snapshot load (which gets the same columns back through `json_agg`).
 */
export interface PolicyRow {
  name: string;
  effect: 'allow' | 'deny';
  agents: string[];
  integrations: string[];
  scopes: string[] | null;
  users: Policy['users'] | null;
  max_ttl_seconds: number | null;
  require_approval: boolean;
  approval_ttl_seconds: number | null;
  approvers: 'user';
  require_dpop: boolean;
}

export const POLICY_COLUMNS =
  'name, effect, agents, integrations, scopes, users, max_ttl_seconds, require_approval, approval_ttl_seconds, approvers, require_dpop';

/** The one mapper of a `policies` row. */
export function toPolicy(r: PolicyRow): Policy {
  return {
    name: r.name,
    effect: r.effect,
    agents: r.agents,
    integrations: r.integrations,
    scopes: r.scopes ?? [],
    users: r.users ?? {},
    max_ttl_seconds: r.max_ttl_seconds ?? null,
    // Only on policies that ask for approval: every other policy reads as before.
    ...(r.require_approval
      ? { require_approval: true, approval_ttl_seconds: r.approval_ttl_seconds ?? null, approvers: r.approvers ?? 'user' }
      : {}),
    // Only on policies that require DPoP: every other policy reads as before.
    ...(r.require_dpop ? { require_dpop: true } : {}),
  };
}
