import { evaluatePolicies, Policy, rolesFromClaims, scopeReach } from './policy.evaluator';

const allow = (name: string, over: Partial<Policy> = {}): Policy => ({ name, effect: 'allow', agents: ['a1'], integrations: ['gh'], scopes: [], users: {}, ...over });
const deny = (name: string, over: Partial<Policy> = {}): Policy => ({ ...allow(name, over), effect: 'deny' });
const req = { agent: 'a1', integration: 'gh', subject: 'alice', roles: ['eng', 'oncall'] };

describe('evaluatePolicies (CONTRACT.md: deny by default, any matching deny wins)', () => {
  it('denies by default, naming no policy, with nothing matched', () => {
    expect(evaluatePolicies([], req)).toEqual({ allowed: false, reason: 'policy_denied', policy: null, inputs: { matched: [] } });
    expect(evaluatePolicies([allow('other', { agents: ['a2'] }), allow('elsewhere', { integrations: ['slack'] })], req).allowed).toBe(false);
  });

  it('a matching deny wins over every allow and is named', () => {
    const d = evaluatePolicies([allow('p'), deny('no')], req);
    expect(d).toMatchObject({ allowed: false, policy: 'no' });
    expect(d.inputs.matched.map((m) => m.policy)).toEqual(['p', 'no']);
  });

  it("'*' matches any agent and integration", () => {
    expect(evaluatePolicies([allow('any', { agents: ['*'], integrations: ['*'] })], req)).toMatchObject({ allowed: true, policies: ['any'] });
  });

  it('roles_any needs one shared role; the roles that matched are the decision inputs', () => {
    expect(evaluatePolicies([allow('ops', { users: { roles_any: ['sales'] } })], req).allowed).toBe(false);
    const d = evaluatePolicies([allow('ops', { users: { roles_any: ['oncall', 'sre', 'eng'] } })], req);
    expect(d).toMatchObject({ allowed: true, policies: ['ops'] });
    expect(d.inputs.matched).toEqual([{ policy: 'ops', effect: 'allow', roles: ['oncall', 'eng'], subject: false }]);
  });

  it('subjects must name the user; a match says so without repeating the subject', () => {
    expect(evaluatePolicies([allow('bob-only', { users: { subjects: ['bob'] } })], req).allowed).toBe(false);
    const d = evaluatePolicies([allow('alice-only', { users: { subjects: ['alice'] } })], req);
    expect(d.inputs.matched).toEqual([{ policy: 'alice-only', effect: 'allow', roles: [], subject: true }]);
    expect(JSON.stringify(d.inputs)).not.toContain('alice"');
  });

  it('a deny limited to a role spares users without it', () => {
    expect(evaluatePolicies([allow('p'), deny('no-sales', { users: { roles_any: ['sales'] } })], req)).toMatchObject({ allowed: true, policies: ['p'] });
  });

  it('scope ceiling: union of the allows; one allow without scopes lifts it; TTL: the smallest given', () => {
    const d = evaluatePolicies([allow('r', { scopes: ['read'], max_ttl_seconds: 300 }), allow('w', { scopes: ['write', 'read'], max_ttl_seconds: 60 })], req);
    expect(d).toMatchObject({ allowed: true, scopeCeiling: ['read', 'write'], maxTtlSeconds: 60 });
    expect(evaluatePolicies([allow('r', { scopes: ['read'] }), allow('all')], req)).toMatchObject({ scopeCeiling: null, maxTtlSeconds: null });
  });
});

describe('rolesFromClaims', () => {
  it('reads roles and groups, as a space-separated string or an array, ignoring non-strings', () => {
    expect(rolesFromClaims({ roles: 'a b  c', groups: ['g1', 7, 'g2'] })).toEqual(['a', 'b', 'c', 'g1', 'g2']);
    expect(rolesFromClaims({ role: 'x' })).toEqual([]);
  });
});

describe('scopeReach', () => {
  it('ignores denies and other integrations', () => {
    expect(scopeReach([deny('d', { scopes: ['x'] }), allow('o', { integrations: ['slack'], scopes: ['y'] })], 'gh')).toEqual({ kind: 'none' });
    expect(scopeReach([allow('a', { scopes: ['x'] }), allow('b', { integrations: ['*'], scopes: ['y', 'x'] })], 'gh')).toEqual({ kind: 'bounded', scopes: ['x', 'y'] });
  });
});
