import { evaluatePolicies, inputsForAudit, Policy, PolicyMatch, rolesFromClaims, scopeReach } from './policy.evaluator';

const allow = (name: string, over: Partial<Policy> = {}): Policy => ({
  name,
  effect: 'allow',
  agents: ['a1'],
  integrations: ['gh'],
  scopes: [],
  users: {},
  ...over,
});
const deny = (name: string, over: Partial<Policy> = {}): Policy => ({ ...allow(name, over), effect: 'deny' });
const req = { agent: 'a1', integration: 'gh', subject: 'alice', roles: ['eng', 'oncall'] };

describe('evaluatePolicies (CONTRACT.md: deny by default, any matching deny wins)', () => {
  it('denies by default, naming no policy, with nothing matched', () => {
    expect(evaluatePolicies([], req)).toEqual({ allowed: false, reason: 'policy_denied', policy: null, inputs: { matched: [] } });
    expect(evaluatePolicies([allow('other', { agents: ['a2'] }), allow('elsewhere', { integrations: ['slack'] })], req).allowed).toBe(
      false,
    );
  });

  it('a matching deny wins over every allow and is named', () => {
    const d = evaluatePolicies([allow('p'), deny('no')], req);
    expect(d).toMatchObject({ allowed: false, policy: 'no' });
    expect(d.inputs.matched.map((m) => m.policy)).toEqual(['p', 'no']);
  });

  it('an agent acting for itself (no subject): only policies that name no users apply', () => {
    const own = { agent: 'a1', integration: 'gh', roles: [] };
    const policies = [allow('for-eng', { users: { roles_any: ['eng'] } }), allow('for-alice', { users: { subjects: ['alice'] } })];
    expect(evaluatePolicies(policies, own)).toMatchObject({ allowed: false, policy: null, inputs: { matched: [] } });
    expect(evaluatePolicies([...policies, allow('agent')], own)).toMatchObject({ allowed: true, policies: ['agent'] });
    // A deny that names users does not apply either; one that names none does.
    expect(evaluatePolicies([allow('agent'), deny('no-alice', { users: { subjects: ['alice'] } })], own).allowed).toBe(true);
    expect(evaluatePolicies([allow('agent'), deny('no-a1')], own)).toMatchObject({ allowed: false, policy: 'no-a1' });
  });

  it("'*' matches any agent and integration", () => {
    expect(evaluatePolicies([allow('any', { agents: ['*'], integrations: ['*'] })], req)).toMatchObject({
      allowed: true,
      policies: ['any'],
    });
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
    expect(evaluatePolicies([allow('p'), deny('no-sales', { users: { roles_any: ['sales'] } })], req)).toMatchObject({
      allowed: true,
      policies: ['p'],
    });
  });

  it('scope ceiling: union of the allows; one allow without scopes lifts it; TTL: the smallest given', () => {
    const d = evaluatePolicies(
      [allow('r', { scopes: ['read'], max_ttl_seconds: 300 }), allow('w', { scopes: ['write', 'read'], max_ttl_seconds: 60 })],
      req,
    );
    expect(d).toMatchObject({ allowed: true, scopeCeiling: ['read', 'write'], maxTtlSeconds: 60 });
    expect(evaluatePolicies([allow('r', { scopes: ['read'] }), allow('all')], req)).toMatchObject({
      scopeCeiling: null,
      maxTtlSeconds: null,
    });
  });
});

describe('inputsForAudit (an audit record holds 16 KiB of details: what a decision logs is bounded)', () => {
  const m = (policy: string, effect: 'allow' | 'deny', roles: string[] = []): PolicyMatch => ({ policy, effect, roles, subject: false });

  it('a few matches go in as they are', () => {
    expect(inputsForAudit([m('a', 'allow', ['r1'])])).toEqual({ matched: [m('a', 'allow', ['r1'])] });
  });

  it('denies first, at most 8 policies and 2 roles each, counting what was left out', () => {
    const many = [...Array.from({ length: 12 }, (_, i) => m(`allow-${i}`, 'allow', ['r1', 'r2', 'r3', 'r4'])), m('the-deny', 'deny')];
    const out = inputsForAudit(many);
    expect(out.matched).toHaveLength(8);
    expect(out.matched[0]).toEqual(m('the-deny', 'deny'));
    expect(out.matched[1]).toEqual({ ...m('allow-0', 'allow', ['r1', 'r2']), roles_omitted: 2 });
    expect(out.matched_omitted).toBe(5);
  });

  it('a deny after an allow, or a match with 3 roles, is reordered or trimmed even when few', () => {
    expect(inputsForAudit([m('a', 'allow'), m('d', 'deny')])).toEqual({ matched: [m('d', 'deny'), m('a', 'allow')] });
    expect(inputsForAudit([m('d', 'deny'), m('a', 'allow', ['r1', 'r2', 'r3'])])).toEqual({
      matched: [m('d', 'deny'), { ...m('a', 'allow', ['r1', 'r2']), roles_omitted: 1 }],
    });
    const asIs = [m('d', 'deny', ['r1', 'r2']), m('a', 'allow')];
    const out = inputsForAudit(asIs);
    expect(out).toEqual({ matched: asIs });
    expect(out.matched).not.toBe(asIs); // a copy: the audit record never shares the decision's list
  });

  it('stays far below the limit with the longest names the admin API takes', () => {
    const long = (c: string) => c.repeat(256);
    const many = Array.from({ length: 100 }, (_, i) =>
      m(
        `${i}`.padEnd(128, 'p'),
        'allow',
        Array.from({ length: 100 }, (_, j) => long(String.fromCharCode(97 + (j % 26)))),
      ),
    );
    expect(JSON.stringify(inputsForAudit(many)).length).toBeLessThan(8 * 1024);
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
    expect(scopeReach([deny('d', { scopes: ['x'] }), allow('o', { integrations: ['slack'], scopes: ['y'] })], 'gh')).toEqual({
      kind: 'none',
    });
    expect(scopeReach([allow('a', { scopes: ['x'] }), allow('b', { integrations: ['*'], scopes: ['y', 'x'] })], 'gh')).toEqual({
      kind: 'bounded',
      scopes: ['x', 'y'],
    });
  });
});
