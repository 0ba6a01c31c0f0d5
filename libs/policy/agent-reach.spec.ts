import { agentReach } from './agent-reach';
import { Policy } from './policy.evaluator';

const p = (name: string, effect: 'allow' | 'deny', agents: string[], over: Partial<Policy> = {}): Policy => ({
  name,
  effect,
  agents,
  integrations: ['cal'],
  scopes: [],
  users: {},
  ...over,
});

describe('agentReach (what the consent page lists)', () => {
  it('allows for the integration and user, with role conditions; other integrations and users left out', () => {
    const policies = [
      p('a', 'allow', ['mcp-1']),
      p('b', 'allow', ['mcp-2'], { users: { roles_any: ['sales', 'ops'] } }),
      p('c', 'allow', ['mcp-3'], { integrations: ['mail'] }),
      p('d', 'allow', ['mcp-4'], { users: { subjects: ['bob'] } }),
    ];
    expect(agentReach(policies, 'cal', 'alice')).toEqual([
      { agent: 'mcp-1', rolesAny: [] },
      { agent: 'mcp-2', rolesAny: ['sales', 'ops'] },
    ]);
  });

  it('an unconditional allow is not replaced by a conditional one, nor the other way round lost', () => {
    expect(agentReach([p('a', 'allow', ['mcp-1']), p('b', 'allow', ['mcp-1'], { users: { roles_any: ['x'] } })], 'cal', 'alice')).toEqual([
      { agent: 'mcp-1', rolesAny: [] },
    ]);
    expect(agentReach([p('a', 'allow', ['mcp-1'], { users: { roles_any: ['x'] } }), p('b', 'allow', ['mcp-1'])], 'cal', 'alice')).toEqual([
      { agent: 'mcp-1', rolesAny: [] },
    ]);
  });

  it("a deny without a role condition removes its agents, '*' all of them; one with a role condition removes none", () => {
    const allows = [p('a', 'allow', ['mcp-1', 'mcp-2'])];
    expect(agentReach([...allows, p('n', 'deny', ['mcp-1'])], 'cal', 'alice')).toEqual([{ agent: 'mcp-2', rolesAny: [] }]);
    expect(agentReach([...allows, p('n', 'deny', ['*'])], 'cal', 'alice')).toEqual([]);
    expect(agentReach([...allows, p('n', 'deny', ['*'], { users: { roles_any: ['x'] } })], 'cal', 'alice')).toHaveLength(2);
    expect(agentReach([...allows, p('n', 'deny', ['*'], { users: { subjects: ['bob'] } })], 'cal', 'alice')).toHaveLength(2);
  });
});
