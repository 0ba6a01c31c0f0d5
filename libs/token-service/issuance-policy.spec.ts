import { evaluatePolicies, Policy } from '../policy';
import { decideScopes } from './issuance-policy';

const policies: Policy[] = [
  { name: 'mcp-openai', effect: 'allow', agents: ['mcp-1'], integrations: ['openai'], scopes: [], users: {}, max_ttl_seconds: 120 },
  {
    name: 'sales-crm',
    effect: 'allow',
    agents: ['*'],
    integrations: ['salesforce'],
    scopes: [],
    users: { roles_any: ['sales'] },
    max_ttl_seconds: 60,
  },
  { name: 'no-github', effect: 'deny', agents: ['*'], integrations: ['github'], scopes: [], users: {} },
  { name: 'all-github', effect: 'allow', agents: ['*'], integrations: ['github'], scopes: [], users: {} },
];
const decide = (roles: string[]) => async (integration: string) =>
  evaluatePolicies(policies, { agent: 'mcp-1', integration, subject: 'alice', roles });

describe('decideScopes', () => {
  it('grants what policy allows, refuses the rest with the deciding policy, smallest TTL wins', async () => {
    const r = await decideScopes(
      ['connections:openai', 'connections:salesforce', 'connections:github', 'connections:slack', 'openid'],
      decide(['sales']),
    );
    expect(r.granted).toEqual(['connections:openai', 'connections:salesforce']);
    expect(r.policies).toEqual(['mcp-openai', 'sales-crm']);
    expect(r.maxTtlSeconds).toBe(60);
    expect(r.refused).toEqual([
      { scope: 'connections:github', reason: 'policy_denied', policy: 'no-github' },
      { scope: 'connections:slack', reason: 'policy_denied', policy: null },
      { scope: 'openid', reason: 'unknown_scope', policy: null },
    ]);
    // The inputs that decided, once per policy: the role that let sales-crm apply, and the deny beside the allow.
    expect(r.matched).toEqual([
      { policy: 'mcp-openai', effect: 'allow', roles: [], subject: false },
      { policy: 'sales-crm', effect: 'allow', roles: ['sales'], subject: false },
      { policy: 'no-github', effect: 'deny', roles: [], subject: false },
      { policy: 'all-github', effect: 'allow', roles: [], subject: false },
    ]);
  });

  it('a user without the role loses only that scope', async () => {
    const r = await decideScopes(['connections:openai', 'connections:salesforce'], decide([]));
    expect(r.granted).toEqual(['connections:openai']);
    expect(r.maxTtlSeconds).toBe(120);
  });

  it('a delegated subject token bounds the grant', async () => {
    const r = await decideScopes(['connections:openai', 'connections:salesforce'], decide(['sales']), ['connections:salesforce']);
    expect(r.granted).toEqual(['connections:salesforce']);
    expect(r.refused).toEqual([{ scope: 'connections:openai', reason: 'not_delegated', policy: null }]);
  });

  it('refuses malformed integration names without asking policy', async () => {
    const asked: string[] = [];
    const r = await decideScopes(
      ['connections:', 'connections:../x'],
      async (i) => (asked.push(i), { allowed: false, reason: 'policy_denied', policy: null, inputs: { matched: [] } }),
    );
    expect(r.granted).toEqual([]);
    expect(asked).toEqual([]);
  });
});
