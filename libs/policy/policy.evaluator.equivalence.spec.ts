import { ApprovalRequirement, DEFAULT_APPROVAL_TTL_SECONDS, evaluatePolicies, Policy, PolicyRequest } from './policy.evaluator';

/** `evaluatePolicies` as it was before its one-pass rewrite (4 December 2026), kept as the reference it must equal. */
function reference(policies: readonly Policy[], r: PolicyRequest): unknown {
  const match = (p: Policy) => {
    if (!p.agents.includes('*') && !p.agents.includes(r.agent)) return undefined;
    if (!p.integrations.includes('*') && !p.integrations.includes(r.integration)) return undefined;
    const roles = p.users.roles_any ?? [];
    if (r.subject === undefined && (roles.length || p.users.subjects?.length)) return undefined;
    const matchedRoles = roles.filter((x) => r.roles.includes(x));
    if (roles.length && !matchedRoles.length) return undefined;
    const subjects = p.users.subjects ?? [];
    if (subjects.length && !subjects.includes(r.subject!)) return undefined;
    return { policy: p.name, effect: p.effect, roles: matchedRoles, subject: subjects.length > 0 };
  };
  const matching = policies.filter((p) => match(p));
  const inputs = { matched: matching.map((p) => match(p)!) };
  const deny = matching.find((p) => p.effect === 'deny');
  if (deny) return { allowed: false, reason: 'policy_denied', policy: deny.name, inputs };
  const allows = matching.filter((p) => p.effect === 'allow');
  if (!allows.length) return { allowed: false, reason: 'policy_denied', policy: null, inputs };
  const ttls = allows.map((p) => p.max_ttl_seconds).filter((t): t is number => typeof t === 'number');
  const dpop = allows.filter((p) => p.require_dpop).map((p) => p.name);
  const requiring = allows.filter((p) => p.require_approval);
  const approval: ApprovalRequirement | undefined = requiring.length
    ? {
        ttlSeconds: Math.min(...requiring.map((p) => p.approval_ttl_seconds ?? DEFAULT_APPROVAL_TTL_SECONDS)),
        approvers: 'user',
        policies: requiring.map((p) => p.name),
      }
    : undefined;
  return {
    allowed: true,
    policies: allows.map((p) => p.name),
    scopeCeiling: allows.some((p) => p.scopes.length === 0) ? null : [...new Set(allows.flatMap((p) => p.scopes))],
    maxTtlSeconds: ttls.length ? Math.min(...ttls) : null,
    inputs,
    ...(dpop.length ? { dpopRequiredBy: dpop } : {}),
    ...(approval ? { approval } : {}),
  };
}

describe('evaluatePolicies equals its earlier form (random policy sets, same answer, same keys in the same order)', () => {
  let seed = 21;
  const rand = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
  const some = <T>(from: readonly T[], max: number) => Array.from({ length: rand(max + 1) }, () => from[rand(from.length)]);
  // More than 16 distinct scopes: the union's `Set` path too.
  const SCOPES = ['repo', 'read', 'write', ...Array.from({ length: 20 }, (_, i) => `s${i}`)];
  const maybe = <T>(v: T) => (rand(3) === 0 ? undefined : v);
  const policy = (i: number): Policy => ({
    name: `p${i}`,
    effect: rand(4) === 0 ? 'deny' : 'allow',
    agents: some(['a1', 'a2', '*'], 2),
    integrations: some(['gh', 'slack', '*'], 2),
    scopes: some(SCOPES, rand(3) ? 3 : 12),
    users: { roles_any: maybe(some(['eng', 'ops', 'hr'], 2)), subjects: maybe(some(['alice', 'bob'], 2)) },
    max_ttl_seconds: [undefined, null, 60, 300, 3600][rand(5)],
    require_dpop: maybe(rand(2) === 0),
    require_approval: maybe(rand(3) === 0),
    approval_ttl_seconds: [undefined, null, 120, 900][rand(4)],
  });

  it('over 5,000 cases', () => {
    for (let c = 0; c < 5_000; c++) {
      const policies = Array.from({ length: rand(8) }, (_, i) => policy(i));
      const r: PolicyRequest = {
        agent: ['a1', 'a2'][rand(2)],
        integration: ['gh', 'slack'][rand(2)],
        subject: maybe(['alice', 'bob', 'carol'][rand(3)]),
        roles: some(['eng', 'ops', 'hr'], 2),
      };
      const got = evaluatePolicies(policies, r);
      expect(got).toStrictEqual(reference(policies, r));
      expect(JSON.stringify(got)).toBe(JSON.stringify(reference(policies, r)));
    }
  });
});
