import { decideResourceScopes, Resource, toResource } from './resource';

const crm: Resource = toResource(
  'crm',
  {
    identifier: 'https://crm.example.com',
    display_name: 'CRM',
    scopes: {
      read: { roles_any: ['analyst', 'admin'] },
      write: { roles_any: ['admin'] },
      delete: { roles_any: ['admin'], require_approval: true },
      public: { roles_any: ['*'] },
    },
    agents: ['a1'],
  },
  ['https://vault.example.com'],
);

describe('decideResourceScopes', () => {
  it('grants requested ∩ the roles allow ∩ the agent list, each refusal with its reason', () => {
    expect(decideResourceScopes(crm, ['read', 'write', 'nope', 'public'], { agent: 'a1', roles: ['analyst'] })).toEqual({
      granted: ['read', 'public'],
      refused: [
        { scope: 'write', reason: 'role_missing' },
        { scope: 'nope', reason: 'unknown_scope' },
      ],
      roles: [
        { scope: 'read', roles: ['analyst'] },
        { scope: 'public', roles: ['*'] },
      ],
    });
  });

  it('an agent not listed gets nothing; without an agent (code flow) the list does not apply', () => {
    expect(decideResourceScopes(crm, ['read'], { agent: 'a2', roles: ['admin'] }).refused).toEqual([
      { scope: 'read', reason: 'agent_not_allowed' },
    ]);
    expect(decideResourceScopes(crm, ['read'], { roles: ['admin'] }).granted).toEqual(['read']);
  });

  it('approval scopes need an approval; a delegated token bounds the scopes', () => {
    expect(decideResourceScopes(crm, ['delete'], { roles: ['admin'] }).refused).toEqual([{ scope: 'delete', reason: 'approval_required' }]);
    expect(decideResourceScopes(crm, ['delete'], { roles: ['admin'], approved: ['delete'] }).granted).toEqual(['delete']);
    expect(decideResourceScopes(crm, ['read', 'write'], { roles: ['admin'], delegated: ['read'] }).refused).toEqual([
      { scope: 'write', reason: 'not_delegated' },
    ]);
  });
});

describe('toResource', () => {
  const base = { identifier: 'https://crm.example.com', display_name: 'CRM', scopes: { read: { roles_any: ['a'] } } };
  it.each([
    [{ ...base, identifier: 'https://vault.example.com' }, 'identifier'],
    [{ ...base, identifier: 'ftp://crm.example.com' }, 'identifier'],
    [{ ...base, identifier: 'https://u:p@crm.example.com' }, 'identifier'],
    [{ ...base, display_name: ' ' }, 'display_name'],
    [{ ...base, token_ttl_seconds: 0 }, 'token_ttl_seconds'],
    [{ ...base, scopes: { read: { roles_any: ['a'], require_approval: 'yes' as unknown as boolean } } }, 'scopes.read.require_approval'],
  ])('refuses %o naming %s', (input, field) => {
    expect(() => toResource('x', input, ['https://vault.example.com'])).toThrow(
      expect.objectContaining({ details: { extra: { errors: [expect.objectContaining({ field })] } } }),
    );
  });

  it('fills defaults; http is allowed on localhost', () => {
    expect(toResource('x', { ...base, identifier: 'http://localhost:8090' }, [])).toEqual({
      name: 'x',
      identifier: 'http://localhost:8090',
      display_name: 'CRM',
      scopes: { read: { description: '', roles_any: ['a'], require_approval: false } },
      token_ttl_seconds: 300,
      agents: [],
    });
  });
});
