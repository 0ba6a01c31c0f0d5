import { checkReturnUrl, withOutcome } from './return-url';

/** SECURITY 17 at the unit level (the HTTP test drives the same corpus through the API). */
describe('return URL allowlist', () => {
  const allow = ['https://app.example.com/settings/', 'http://localhost:3000/'];
  const check = (u: unknown) => checkReturnUrl(u, allow, 'https://vault.example.com');

  it.each([
    'https://app.example.com/settings/',
    'https://app.example.com/settings/x?y=1#z',
    'https://APP.example.com/settings/a',
    'https://app.example.com:443/settings/',
    'http://localhost:3000/cb',
    'https://vault.example.com/connections',
  ])('%s is allowed', (u) => expect(check(u).ok).toBe(true));

  it.each([
    '//evil.com',
    '///evil.com',
    'https://evil.com/settings/',
    'https://app.example.com.evil.com/settings/',
    'https://app.example.com@evil.com/settings/',
    'https://evil.com#@app.example.com/settings/',
    'https://evil.com?@app.example.com/settings/',
    'https:\\\\evil.com',
    'https://app.example.com\\@evil.com/',
    '/\\evil.com',
    '\\\\evil.com',
    'https:/evil.com',
    'https:evil.com',
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'data:text/html,x',
    'vbscript:x',
    'https://app.example.com%2F@evil.com/',
    'https://app.example.com%2eevil.com/',
    'https%3A%2F%2Fevil.com',
    'https://app.example.com/settingsevil',
    'https://app.example.com/other',
    'https://app.example.com/settings/../admin',
    'https://app.example.com/settings/%2e%2e/admin',
    'http://app.example.com/settings/',
    'https://app.example.com:8443/settings/',
    'https://app.example.com./settings/',
    ' https://app.example.com/settings/',
    'https://app.example.com/settings/\t',
    'https://app.example.com/set\ntings/',
    'https://app.example.com\u3002evil.com/',
    'https://аpp.example.com/settings/',
    'https://app.example.com\u2028/settings/',
    'http://localhost:3001/',
    'http://127.0.0.1:3000/',
    '',
    'x'.repeat(3000),
    42,
    null,
    undefined,
    ['https://app.example.com/settings/'],
  ])('%j is refused', (u) => expect(check(u).ok).toBe(false));

  it('appends the outcome', () => {
    expect(withOutcome('https://app.example.com/settings/?tab=1', 'connected', 'gcal')).toBe(
      'https://app.example.com/settings/?tab=1&connect_status=connected&integration=gcal',
    );
  });
});
