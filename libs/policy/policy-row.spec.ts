import { POLICY_COLUMNS, PolicyRow, toPolicy } from './policy-row';

describe('toPolicy (the one mapper of a policies row)', () => {
  const row: PolicyRow = {
    name: 'p',
    effect: 'allow',
    agents: ['a'],
    integrations: ['i'],
    scopes: ['s'],
    users: { roles_any: ['r'] },
    max_ttl_seconds: 300,
    require_dpop: true,
    require_approval: true,
    approval_ttl_seconds: 900,
    approvers: 'user',
  };

  it('maps every selected column', () => {
    expect(toPolicy(row)).toEqual({
      name: 'p',
      effect: 'allow',
      agents: ['a'],
      integrations: ['i'],
      scopes: ['s'],
      users: { roles_any: ['r'] },
      max_ttl_seconds: 300,
      require_dpop: true,
      require_approval: true,
      approval_ttl_seconds: 900,
      approvers: 'user',
    });
    expect(POLICY_COLUMNS.split(', ').sort()).toEqual(Object.keys(row).sort());
  });

  it('fills what a row (or a json_agg of rows) may leave null', () => {
    expect(toPolicy({ ...row, scopes: null, users: null, max_ttl_seconds: null })).toMatchObject({
      scopes: [],
      users: {},
      max_ttl_seconds: null,
    });
  });

  it('leaves the approval fields out of a policy that does not require approval', () => {
    const p = toPolicy({ ...row, require_approval: false, approval_ttl_seconds: null });
    expect(p).not.toHaveProperty('require_approval');
    expect(p).not.toHaveProperty('approval_ttl_seconds');
    expect(p).not.toHaveProperty('approvers');
  });

  it('leaves require_dpop out of a policy that does not require DPoP', () => {
    expect(toPolicy({ ...row, require_dpop: false })).not.toHaveProperty('require_dpop');
  });

  it('keeps only the policy columns, whatever else the statement returned', () => {
    expect(Object.keys(toPolicy({ ...row, tenant: 't', created_at: new Date() } as PolicyRow)).sort()).toEqual(Object.keys(row).sort());
  });
});
