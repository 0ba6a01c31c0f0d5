import { DEFAULT_APPROVAL_TTL_SECONDS, evaluatePolicies, Policy } from './policy.evaluator';

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

describe('evaluatePolicies: require_approval (issue 17 §3)', () => {
  it('an allow without require_approval needs no approval', () => {
    const d = evaluatePolicies([allow('p')], req);
    expect(d.allowed && d.approval).toBeUndefined();
  });

  it('one matching allow that requires approval is enough; its TTL defaults to 600 s', () => {
    const d = evaluatePolicies([allow('open'), allow('guarded', { require_approval: true })], req);
    expect(d).toMatchObject({
      allowed: true,
      approval: { ttlSeconds: DEFAULT_APPROVAL_TTL_SECONDS, approvers: 'user', policies: ['guarded'] },
    });
    expect(DEFAULT_APPROVAL_TTL_SECONDS).toBe(600);
  });

  it('the shortest approval TTL among requiring allows applies', () => {
    const d = evaluatePolicies(
      [
        allow('a', { require_approval: true, approval_ttl_seconds: 900 }),
        allow('b', { require_approval: true, approval_ttl_seconds: 120 }),
      ],
      req,
    );
    expect(d).toMatchObject({ allowed: true, approval: { ttlSeconds: 120, policies: ['a', 'b'] } });
  });

  it('a requiring policy that does not match the request asks nothing; a deny still wins', () => {
    expect(evaluatePolicies([allow('p'), allow('other', { integrations: ['slack'], require_approval: true })], req)).not.toHaveProperty(
      'approval',
    );
    expect(evaluatePolicies([allow('g', { require_approval: true }), { ...allow('no'), effect: 'deny' }], req)).toMatchObject({
      allowed: false,
      policy: 'no',
    });
  });
});
