import { evaluatePolicies, Policy } from './policy.evaluator';

const allow = (name: string, over: Partial<Policy> = {}): Policy => ({
  name,
  effect: 'allow',
  agents: ['a1'],
  integrations: ['gh'],
  scopes: [],
  users: {},
  ...over,
});
const req = { agent: 'a1', integration: 'gh', subject: 'alice', roles: [] };

describe('evaluatePolicies: require_dpop (issue 18 §5, policies requiring DPoP)', () => {
  it('an allow without require_dpop asks for no binding', () => {
    expect(evaluatePolicies([allow('p')], req)).not.toHaveProperty('dpopRequiredBy');
  });

  it('one matching allow that requires DPoP is enough, and is named', () => {
    expect(evaluatePolicies([allow('open'), allow('bound', { require_dpop: true })], req)).toMatchObject({
      allowed: true,
      policies: ['open', 'bound'],
      dpopRequiredBy: ['bound'],
    });
  });

  it('a requiring policy that does not match asks nothing; a deny still wins', () => {
    expect(evaluatePolicies([allow('p'), allow('other', { integrations: ['slack'], require_dpop: true })], req)).not.toHaveProperty(
      'dpopRequiredBy',
    );
    expect(evaluatePolicies([allow('b', { require_dpop: true }), { ...allow('no'), effect: 'deny' }], req)).toMatchObject({
      allowed: false,
      policy: 'no',
    });
  });
});
