/** A stored policy, as the admin API defines it (CONTRACT.md). */
export interface Policy {
  name: string;
  effect: 'allow' | 'deny';
  agents: string[];
  integrations: string[];
  scopes: string[];
  users: { roles_any?: string[]; subjects?: string[] };
  max_ttl_seconds?: number | null;
  /** Tokens issued under this allow must be DPoP-bound (`cnf.jkt`); only set on policies that ask for it. */
  require_dpop?: boolean;
  /** A person must approve each use out of band (CIBA, libs/approvals); only set on policies that ask for it. */
  require_approval?: boolean;
  /** How long an approval lasts once given (default 600 s). */
  approval_ttl_seconds?: number | null;
  /** Who approves: the user the credential belongs to (room for others later). */
  approvers?: 'user';
}

/** Default lifetime of an approval, when the policy names none. */
export const DEFAULT_APPROVAL_TTL_SECONDS = 600;

/** An allow that needs a person's approval first: for how long one lasts, and who gives it. */
export interface ApprovalRequirement {
  ttlSeconds: number;
  approvers: 'user';
  policies: string[];
}

export interface PolicyRequest {
  agent: string;
  integration: string;
  /** Absent: the agent acts for itself, no user (a jwt-bearer agent token); only policies naming no users apply. */
  subject?: string;
  /** Roles and groups of the user, from the subject token's claims. */
  roles: string[];
}

/**
 * Why a policy applied: the user's roles/groups it matched on (empty: it names none) and whether
 * its subject list named the user (the subject itself is already on the audit record, so not repeated).
 */
export interface PolicyMatch {
  policy: string;
  effect: 'allow' | 'deny';
  roles: string[];
  subject: boolean;
}

/** The inputs that decided, for the audit record ("logs it with its inputs"): every policy that applied. */
export interface DecisionInputs {
  matched: PolicyMatch[];
  /** The user turned this agent off for this integration themselves (their switch on /account). */
  user_switch?: 'off';
}

export type PolicyDecision =
  | {
      allowed: true;
      policies: string[];
      scopeCeiling: string[] | null;
      maxTtlSeconds: number | null;
      inputs: DecisionInputs;
      /** The matching allows that require a DPoP-bound token (any one is enough); absent when none does. */
      dpopRequiredBy?: string[];
      /** Set when a matching allow requires approval (the strictest applies: the shortest lifetime). */
      approval?: ApprovalRequirement;
    }
  | { allowed: false; reason: 'policy_denied'; policy: string | null; inputs: DecisionInputs };

const NONE: readonly string[] = Object.freeze([]);

/** The match, or undefined when the policy does not apply to the request. */
function match(p: Policy, r: PolicyRequest): PolicyMatch | undefined {
  if (!p.agents.includes('*') && !p.agents.includes(r.agent)) return undefined;
  if (!p.integrations.includes('*') && !p.integrations.includes(r.integration)) return undefined;
  const roles = p.users.roles_any ?? NONE;
  const subjects = p.users.subjects ?? NONE;
  if (r.subject === undefined && (roles.length || subjects.length)) return undefined;
  const matchedRoles: string[] = [];
  for (let i = 0; i < roles.length; i++) if (r.roles.includes(roles[i])) matchedRoles.push(roles[i]);
  if (roles.length && !matchedRoles.length) return undefined;
  if (subjects.length && !subjects.includes(r.subject!)) return undefined;
  return { policy: p.name, effect: p.effect, roles: matchedRoles, subject: subjects.length > 0 };
}

/**
 * Deny by default; any matching deny wins over every allow. Among matching allows,
 * the scope ceiling is their union (an allow with no scopes imposes none), and the
 * TTL cap is the smallest one given. One pass, no intermediate lists, each list made at its first
 * element (a literal of one, not an empty array grown to sixteen): this runs on every release.
 */
export function evaluatePolicies(policies: readonly Policy[], r: PolicyRequest): PolicyDecision {
  let matched: PolicyMatch[] | undefined;
  let deny: Policy | undefined;
  // What the matching allows add up to (moot once a deny matched).
  let names: string[] | undefined;
  let unbounded = false;
  let ceiling: ScopeUnion | undefined;
  let maxTtl: number | null = null;
  // DPoP and approval only ever add a condition: one matching allow that requires it is enough.
  let dpop: string[] | undefined;
  let approving: Policy[] | undefined;
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i];
    const m = match(p, r);
    if (!m) continue;
    if (matched) matched.push(m);
    else matched = [m];
    if (p.effect === 'deny') deny ??= p;
    else if (p.effect === 'allow' && !deny) {
      if (names) names.push(p.name);
      else names = [p.name];
      if (p.scopes.length === 0) unbounded = true;
      else if (!unbounded) (ceiling ??= new ScopeUnion()).add(p.scopes);
      const ttl = p.max_ttl_seconds;
      if (typeof ttl === 'number') maxTtl = maxTtl === null ? ttl : Math.min(maxTtl, ttl);
      if (p.require_dpop) (dpop ??= []).push(p.name);
      if (p.require_approval) (approving ??= []).push(p);
    }
  }
  const inputs = { matched: matched ?? [] };
  if (deny) return { allowed: false, reason: 'policy_denied', policy: deny.name, inputs };
  if (!names) return { allowed: false, reason: 'policy_denied', policy: null, inputs };
  const decision: PolicyDecision = {
    allowed: true,
    policies: names,
    scopeCeiling: unbounded ? null : ceiling!.scopes,
    maxTtlSeconds: maxTtl,
    inputs,
  };
  if (dpop) decision.dpopRequiredBy = dpop;
  if (approving) decision.approval = approvalOf(approving);
  return decision;
}

/** Scopes, each once, in the order first added (as `[...new Set(all)]`): a few checked by hand, many through a `Set`. */
class ScopeUnion {
  readonly scopes: string[] = [];
  private seen: Set<string> | undefined;

  add(scopes: readonly string[]): void {
    for (let i = 0; i < scopes.length; i++) {
      const s = scopes[i];
      if (this.seen === undefined && this.scopes.length > SCOPES_BY_HAND) this.seen = new Set(this.scopes);
      if (this.seen ? this.seen.has(s) : this.scopes.includes(s)) continue;
      this.seen?.add(s);
      this.scopes.push(s);
    }
  }
}
const SCOPES_BY_HAND = 16;

/** The requirement of the matching allows that require approval (the strictest applies: the shortest lifetime). */
function approvalOf(requiring: readonly Policy[]): ApprovalRequirement {
  return {
    ttlSeconds: Math.min(...requiring.map((p) => p.approval_ttl_seconds ?? DEFAULT_APPROVAL_TTL_SECONDS)),
    approvers: 'user',
    policies: requiring.map((p) => p.name),
  };
}

/**
 * Bounds on what a decision logs: an audit record holds 16 KiB of details (a larger one fails the
 * release closed), roles are up to 256 characters, and one role already explains an any-of match.
 */
const LOGGED_MATCHES = 8;
const LOGGED_ROLES = 2;

/**
 * The decision's inputs as audit details: `matched` (denies first, since one of them decided; then
 * the allows), within bounds; `matched_omitted` counts the policies left out, `roles_omitted` on a
 * match the roles left out.
 */
export function inputsForAudit(matched: readonly PolicyMatch[]): {
  matched: Array<PolicyMatch & { roles_omitted?: number }>;
  matched_omitted?: number;
} {
  // The usual case (a few matches, a few roles each, no deny after an allow): one copy, not four.
  if (matched.length <= LOGGED_MATCHES && loggableAsIs(matched)) return { matched: matched.slice() };
  const ordered = [...matched.filter((m) => m.effect === 'deny'), ...matched.filter((m) => m.effect === 'allow')];
  const kept = ordered
    .slice(0, LOGGED_MATCHES)
    .map((m) =>
      m.roles.length > LOGGED_ROLES ? { ...m, roles: m.roles.slice(0, LOGGED_ROLES), roles_omitted: m.roles.length - LOGGED_ROLES } : m,
    );
  return kept.length < matched.length ? { matched: kept, matched_omitted: matched.length - kept.length } : { matched: kept };
}

/** Whether `inputsForAudit` would keep `matched` as it is: no roles to trim, denies (if any) already before the allows. */
function loggableAsIs(matched: readonly PolicyMatch[]): boolean {
  let allows = false;
  for (let i = 0; i < matched.length; i++) {
    const m = matched[i];
    if (m.roles.length > LOGGED_ROLES) return false;
    if (m.effect === 'allow') allows = true;
    else if (m.effect !== 'deny' || allows) return false;
  }
  return true;
}

const ROLE_CLAIMS = ['roles', 'groups'] as const;

/** Roles and groups from a token's claims (`roles`, `groups`; string or array). */
export function rolesFromClaims(claims: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (let i = 0; i < ROLE_CLAIMS.length; i++) {
    const v = claims[ROLE_CLAIMS[i]];
    if (typeof v === 'string') out.push(...v.split(' ').filter(Boolean));
    else if (Array.isArray(v)) out.push(...v.filter((x): x is string => typeof x === 'string'));
  }
  return out;
}

/**
 * The provider scopes the tenant's policies could ever let any agent have of `integration`, for
 * any user: the union of the matching allows' ceilings. `unbounded` when one of them has no
 * ceiling; `none` when no allow names the integration (nothing can be released yet).
 * Deny policies do not narrow it: they refuse whole releases, not scopes.
 */
export type ScopeReach = { kind: 'none' } | { kind: 'unbounded' } | { kind: 'bounded'; scopes: string[] };

export function scopeReach(policies: readonly Policy[], integration: string): ScopeReach {
  const allows = policies.filter((p) => p.effect === 'allow' && (p.integrations.includes('*') || p.integrations.includes(integration)));
  if (!allows.length) return { kind: 'none' };
  if (allows.some((p) => p.scopes.length === 0)) return { kind: 'unbounded' };
  return { kind: 'bounded', scopes: [...new Set(allows.flatMap((p) => p.scopes))] };
}
