import { ProviderCatalog } from '../oauth';
import { Policy, scopeReach } from '../policy';
import { consentScopes, scopesNoPolicyAllows } from './consent-scopes';

const catalog = new ProviderCatalog();
const allow = (name: string, integrations: string[], scopes: string[]): Policy => ({
  name,
  effect: 'allow',
  agents: ['*'],
  integrations,
  scopes,
  users: {},
});

describe('consent scopes (issue 14: ask for no scope no policy could allow)', () => {
  const microsoft = catalog.resolve('microsoft', { scopes: ['openid', 'email', 'User.Read', 'Mail.Read', 'Mail.Send'] }, 'client');

  it('scopeReach: the union of the allows naming the integration; unbounded when one has no ceiling; none without allows', () => {
    const policies = [
      allow('a', ['mail'], ['Mail.Read']),
      allow('b', ['*'], ['User.Read']),
      allow('c', ['other'], ['Mail.Send']),
      { ...allow('d', ['mail'], ['Mail.Send']), effect: 'deny' as const },
    ];
    expect(scopeReach(policies, 'mail')).toEqual({ kind: 'bounded', scopes: ['Mail.Read', 'User.Read'] });
    expect(scopeReach([...policies, allow('e', ['mail'], [])], 'mail')).toEqual({ kind: 'unbounded' });
    expect(scopeReach([allow('c', ['other'], ['x'])], 'mail')).toEqual({ kind: 'none' });
  });

  it('asks for the configured scopes within reach plus what the vault needs (required offline_access, openid for ID-token identity)', () => {
    expect(consentScopes(microsoft, { kind: 'bounded', scopes: ['Mail.Read'] })).toEqual(['openid', 'Mail.Read', 'offline_access']);
    expect(scopesNoPolicyAllows(microsoft, { kind: 'bounded', scopes: ['Mail.Read'] })).toEqual([
      'openid',
      'email',
      'User.Read',
      'Mail.Send',
      'offline_access',
    ]);
  });

  it('unbounded or not yet governed: the configured scopes as they are; the admin is told which no policy allows', () => {
    expect(consentScopes(microsoft, { kind: 'unbounded' })).toEqual(microsoft.scopes);
    expect(consentScopes(microsoft, { kind: 'none' })).toEqual(microsoft.scopes);
    expect(scopesNoPolicyAllows(microsoft, { kind: 'unbounded' })).toEqual([]);
    expect(scopesNoPolicyAllows(microsoft, { kind: 'none' })).toEqual(microsoft.scopes);
  });
});
