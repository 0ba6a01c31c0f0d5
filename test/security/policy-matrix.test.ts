import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { startTestVault, TestVault } from '../support/vault';

/**
 * SECURITY.md 10: tenant × user × agent × integration, property-tested. For random policy
 * sets (put through the admin API), every combination is released through HTTP and the
 * outcome compared with an independent model: deny by default, any matching deny wins.
 * A release only ever returns the caller's own tenant's key for that user and integration.
 */

const TENANTS = ['acme', 'globex'] as const;
const USERS = ['alice', 'bob'] as const;
const AGENTS = ['a1', 'a2'] as const;
const INTEGRATIONS = ['i1', 'i2'] as const;

interface GeneratedPolicy {
  effect: 'allow' | 'deny';
  agents: string[];
  integrations: string[];
  /** Absent, empty (everyone) or a list that may name users who do not exist. */
  subjects?: string[];
}

/** The model, written from CONTRACT.md rather than from the evaluator. */
function modelAllows(policies: readonly GeneratedPolicy[], agent: string, integration: string, user: string): boolean {
  const applies = (p: GeneratedPolicy) =>
    (p.agents.includes('*') || p.agents.includes(agent)) &&
    (p.integrations.includes('*') || p.integrations.includes(integration)) &&
    (!p.subjects || p.subjects.length === 0 || p.subjects.includes(user));
  const matching = policies.filter(applies);
  if (matching.some((p) => p.effect === 'deny')) return false;
  return matching.some((p) => p.effect === 'allow');
}

const policyArb: fc.Arbitrary<GeneratedPolicy> = fc.record(
  {
    // Allows weighted up: a matching deny wins, so with even odds most cells would be denied.
    effect: fc.oneof({ arbitrary: fc.constant('allow' as const), weight: 2 }, { arbitrary: fc.constant('deny' as const), weight: 1 }),
    agents: fc.subarray(['a1', 'a2', '*'], { minLength: 1 }),
    integrations: fc.subarray(['i1', 'i2', '*'], { minLength: 1 }),
    subjects: fc.subarray(['alice', 'bob', 'carol'], { minLength: 0 }),
  },
  { requiredKeys: ['effect', 'agents', 'integrations'] },
);

/** Each tenant gets its own policies: a policy of one tenant must not decide for the other. */
const scenarioArb = fc.record({
  acme: fc.array(policyArb, { minLength: 0, maxLength: 4 }),
  globex: fc.array(policyArb, { minLength: 0, maxLength: 4 }),
});

describe('release matrix under random policies (SECURITY 10)', () => {
  let v: TestVault;
  /** The stored key of every (tenant, user, integration). */
  const keys = new Map<string, string>();
  const keyOf = (tenant: string, user: string, integration: string) => keys.get(`${tenant}/${user}/${integration}`)!;

  beforeAll(async () => {
    v = await startTestVault();
    for (const tenant of TENANTS) {
      const token = v.issuer.adminToken(tenant);
      const put = async (path: string, body: unknown) => expect((await v.call('PUT', path, { token, body })).status).toBe(201);
      for (const agent of AGENTS) await put(`/v1/admin/agents/${agent}`, { name: agent });
      for (const integration of INTEGRATIONS) {
        await put(`/v1/admin/integrations/${integration}`, { provider: 'api_key' });
        for (const user of USERS) {
          const key = `key-${tenant}-${user}-${integration}-${randomBytes(6).toString('hex')}`;
          keys.set(`${tenant}/${user}/${integration}`, key);
          await put(`/v1/admin/connections/${integration}/users/${user}`, { api_key: key });
        }
      }
    }
  });
  afterAll(() => v?.close());

  /** Replaces every policy of the tenant with `policies` (p0, p1, ...), through the admin API. */
  async function setPolicies(tenant: string, policies: readonly GeneratedPolicy[]): Promise<void> {
    const token = v.issuer.adminToken(tenant);
    const existing = await v.call('GET', '/v1/admin/policies', { token });
    for (const p of existing.body.policies as Array<{ name: string }>) {
      expect((await v.call('DELETE', `/v1/admin/policies/${p.name}`, { token })).status).toBe(204);
    }
    for (const [i, p] of policies.entries()) {
      const body = {
        effect: p.effect,
        agents: p.agents,
        integrations: p.integrations,
        ...(p.subjects ? { users: { subjects: p.subjects } } : {}),
      };
      expect((await v.call('PUT', `/v1/admin/policies/p${i}`, { token, body })).status).toBe(201);
    }
    expect((await v.call('GET', '/v1/admin/policies', { token })).body.policies).toHaveLength(policies.length);
  }

  it('releases exactly where the model allows, and only the caller tenant’s own key', async () => {
    let allowed = 0;
    let denied = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        for (const tenant of TENANTS) await setPolicies(tenant, scenario[tenant]);
        const combos = TENANTS.flatMap((tenant) =>
          USERS.flatMap((user) => AGENTS.flatMap((agent) => INTEGRATIONS.map((integration) => ({ tenant, user, agent, integration })))),
        );
        const results = await Promise.all(
          combos.map(async (c) => {
            const token = v.issuer.agentToken({ tenant: c.tenant, user: c.user, agent: c.agent, integrations: [c.integration] });
            const res = await v.call('POST', `/v1/connections/${c.integration}/token`, { token });
            return { ...c, res };
          }),
        );
        for (const { tenant, user, agent, integration, res } of results) {
          const where = `${tenant}/${user}/${agent}/${integration}`;
          if (modelAllows(scenario[tenant], agent, integration, user)) {
            allowed++;
            expect({ where, status: res.status }).toEqual({ where, status: 200 });
            expect(res.body).toEqual({ integration, type: 'api_key', api_key: keyOf(tenant, user, integration) });
            const other = TENANTS.find((t) => t !== tenant)!;
            for (const u of USERS) for (const i of INTEGRATIONS) expect(res.body.api_key).not.toBe(keyOf(other, u, i));
          } else {
            denied++;
            expect({ where, status: res.status, code: res.body?.code }).toEqual({ where, status: 403, code: 'policy_denied' });
            expect(res.text).not.toContain('key-');
          }
        }
      }),
      { numRuns: 15 },
    );
    // The runs exercised both sides of the decision.
    expect(allowed).toBeGreaterThan(0);
    expect(denied).toBeGreaterThan(0);
  });

  it('the model itself: deny by default, deny wins, wildcards and subjects', () => {
    expect(modelAllows([], 'a1', 'i1', 'alice')).toBe(false);
    expect(modelAllows([{ effect: 'allow', agents: ['*'], integrations: ['*'] }], 'a1', 'i1', 'alice')).toBe(true);
    expect(
      modelAllows(
        [
          { effect: 'allow', agents: ['*'], integrations: ['*'] },
          { effect: 'deny', agents: ['a1'], integrations: ['i1'] },
        ],
        'a1',
        'i1',
        'alice',
      ),
    ).toBe(false);
    expect(modelAllows([{ effect: 'allow', agents: ['a2'], integrations: ['*'] }], 'a1', 'i1', 'alice')).toBe(false);
    expect(modelAllows([{ effect: 'allow', agents: ['*'], integrations: ['*'], subjects: ['bob'] }], 'a1', 'i1', 'alice')).toBe(false);
    expect(modelAllows([{ effect: 'allow', agents: ['*'], integrations: ['*'], subjects: [] }], 'a1', 'i1', 'alice')).toBe(true);
    expect(
      modelAllows(
        [
          { effect: 'allow', agents: ['*'], integrations: ['*'] },
          { effect: 'deny', agents: ['*'], integrations: ['*'], subjects: ['bob'] },
        ],
        'a1',
        'i1',
        'alice',
      ),
    ).toBe(true);
  });
});
