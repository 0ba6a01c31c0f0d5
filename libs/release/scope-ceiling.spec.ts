import { excessOf, planScopes, scopeSetKey } from './scope-ceiling';

const granted = ['openid', 'calendar.read', 'calendar.write'];

describe('planScopes (issue 14: a ceiling binds the credential itself)', () => {
  it('no ceiling, no request: the grant as it is', () => {
    expect(planScopes(granted, null)).toEqual({ kind: 'as_granted', scopes: granted });
  });

  it('a grant stored with repeats, short or long: each scope once, in its first place (a copy, never the stored list)', () => {
    expect(planScopes(['b', 'a', 'b', 'c', 'a'], null)).toEqual({ kind: 'as_granted', scopes: ['b', 'a', 'c'] });
    const long = [...Array.from({ length: 20 }, (_, i) => `s${i % 12}`)];
    expect(planScopes(long, null)).toEqual({ kind: 'as_granted', scopes: Array.from({ length: 12 }, (_, i) => `s${i}`) });
    const plan = planScopes(granted, null);
    expect(plan.kind === 'as_granted' && plan.scopes).not.toBe(granted);
  });

  it('a ceiling covering the grant: the grant as it is', () => {
    expect(planScopes(granted, ['calendar.read', 'calendar.write', 'openid', 'mail.read'])).toEqual({
      kind: 'as_granted',
      scopes: granted,
    });
  });

  it('a ceiling narrower than the grant: a narrowed token for grant ∩ ceiling, never the full token under a label', () => {
    expect(planScopes(granted, ['calendar.read'])).toEqual({ kind: 'narrowed', scopes: ['calendar.read'] });
  });

  it('a ceiling disjoint from the grant: refused, naming every granted scope', () => {
    expect(planScopes(granted, ['mail.read'])).toEqual({ kind: 'refused', code: 'scope_exceeds_policy', excess: granted });
  });

  it('a requested subset inside the ceiling: narrowed to it', () => {
    expect(planScopes(granted, null, ['calendar.read'])).toEqual({ kind: 'narrowed', scopes: ['calendar.read'] });
    expect(planScopes(granted, ['calendar.read', 'openid'], ['calendar.read'])).toEqual({ kind: 'narrowed', scopes: ['calendar.read'] });
  });

  it('a request equal to the grant (any order, duplicates): as granted', () => {
    expect(planScopes(granted, null, ['calendar.write', 'openid', 'calendar.read', 'openid'])).toEqual({
      kind: 'as_granted',
      scopes: granted,
    });
  });

  it('a request beyond the grant is scope_missing; beyond the ceiling scope_exceeds_policy; each names the excess', () => {
    expect(planScopes(granted, null, ['calendar.read', 'mail.send'])).toEqual({
      kind: 'refused',
      code: 'scope_missing',
      excess: ['mail.send'],
    });
    expect(planScopes(granted, ['calendar.read'], ['calendar.read', 'calendar.write'])).toEqual({
      kind: 'refused',
      code: 'scope_exceeds_policy',
      excess: ['calendar.write'],
    });
  });

  it('an empty request asks for nothing the connection can give', () => {
    expect(planScopes(granted, null, [])).toEqual({ kind: 'refused', code: 'scope_exceeds_policy', excess: granted });
  });

  it('excessOf and scopeSetKey', () => {
    expect(excessOf(granted, ['calendar.read'])).toEqual(['openid', 'calendar.write']);
    expect(scopeSetKey(['b', 'a', 'b'])).toBe('a b');
  });
});
