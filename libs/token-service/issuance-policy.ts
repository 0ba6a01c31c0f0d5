import { PolicyDecision, PolicyMatch } from '../policy';
import { integrationOf } from './exchange-request';
import { OAuthError } from './oauth-error';

/** Why a requested scope did not make it into the token. */
export type RefusalReason = 'unknown_scope' | 'policy_denied' | 'not_delegated' | 'scope_exceeds_policy' | 'user_level_integration';

export interface ScopeGrants {
  granted: string[];
  refused: Array<{ scope: string; reason: RefusalReason; policy: string | null; excess?: string[] }>;
  /** The allow policies behind the granted scopes. */
  policies: string[];
  /** The smallest `max_ttl_seconds` among them, if any. */
  maxTtlSeconds: number | null;
  /** The allow policies behind granted scopes that require a DPoP-bound token (`require_dpop`). */
  dpopRequiredBy: string[];
  /**
   * The policies that applied to any scope put to them, once each, with the roles/subject they
   * matched on (the audit's inputs). Those depend on the user, not the scope, so a policy that
   * applied to several scopes is listed once.
   */
  matched: PolicyMatch[];
}

/**
 * Policy at issuance: each `connections:<integration>` scope is put to the policies on its own,
 * and only allowed ones are granted, so a refusal shrinks the token and never fails it open.
 * Scopes the vault does not issue are refused as `unknown_scope`. When the subject token was
 * itself delegated (it has `act`), its own `connections:` scopes bound what may be granted.
 * The release's scope-ceiling rule applies here too (issue 14): a scope whose policy ceiling no
 * release could honour (`excess` names what the connection would hold beyond it) is refused.
 */
export async function decideScopes(
  requested: readonly string[],
  decide: (integration: string) => Promise<PolicyDecision>,
  delegatedScopes?: readonly string[],
  ceilingExcess: (integration: string, ceiling: string[] | null) => Promise<string[]> = async () => [],
): Promise<ScopeGrants> {
  const out: ScopeGrants = { granted: [], refused: [], policies: [], maxTtlSeconds: null, dpopRequiredBy: [], matched: [] };
  for (const scope of requested) {
    const integration = integrationOf(scope);
    if (integration === undefined) {
      out.refused.push({ scope, reason: 'unknown_scope', policy: null });
      continue;
    }
    if (delegatedScopes && !delegatedScopes.includes(scope)) {
      out.refused.push({ scope, reason: 'not_delegated', policy: null });
      continue;
    }
    const decision = await decide(integration);
    for (const m of decision.inputs.matched) if (!out.matched.some((x) => x.policy === m.policy)) out.matched.push(m);
    if (!decision.allowed) {
      out.refused.push({ scope, reason: 'policy_denied', policy: decision.policy });
      continue;
    }
    const excess = await ceilingExcess(integration, decision.scopeCeiling);
    if (excess.length) {
      out.refused.push({ scope, reason: 'scope_exceeds_policy', policy: null, excess });
      continue;
    }
    out.granted.push(scope);
    for (const p of decision.policies) if (!out.policies.includes(p)) out.policies.push(p);
    for (const p of decision.dpopRequiredBy ?? []) if (!out.dpopRequiredBy.includes(p)) out.dpopRequiredBy.push(p);
    if (decision.maxTtlSeconds !== null) out.maxTtlSeconds = Math.min(out.maxTtlSeconds ?? Infinity, decision.maxTtlSeconds);
  }
  return out;
}

/**
 * A policy behind the grant requires DPoP (`require_dpop`) and the request brought no proof: refused
 * whole (RFC 9449 `invalid_dpop_proof`), never issued as a Bearer token with fewer scopes.
 */
export function requireDpopWhenPolicyDoes(grants: ScopeGrants, jkt: string | undefined): void {
  if (jkt === undefined && grants.dpopRequiredBy.length)
    throw new OAuthError('invalid_dpop_proof', `policy "${grants.dpopRequiredBy[0]}" requires a DPoP-bound token: send a DPoP proof`);
}

/** Nothing requested was granted (RFC 6749 `invalid_scope`); carries the per-scope refusals for the audit. */
export class GrantRefused extends OAuthError {
  constructor(
    readonly grants: ScopeGrants,
    description = 'no requested scope is allowed for this agent and user',
  ) {
    super('invalid_scope', description);
  }
}
