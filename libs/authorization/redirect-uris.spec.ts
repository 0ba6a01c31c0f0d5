import { redirectUriMatches, redirectUriProblem } from './redirect-uris';

describe('redirect URIs (OAuth 2.1 §2.3.1, RFC 8252 §7.3)', () => {
  it.each([
    ['https://app.example.com/cb', undefined],
    ['http://127.0.0.1:3000/cb', undefined],
    ['http://[::1]/cb', undefined],
    ['http://localhost:8080/callback', undefined],
    ['http://app.example.com/cb', 'must be https'],
    ['https://app.example.com/cb#x', 'must not have a fragment'],
    ['https://user:pw@app.example.com/cb', 'must not carry user info'],
    ['javascript:alert(1)', 'must be https'],
    ['/relative', 'must be an absolute URL'],
  ])('%s → %s', (uri, problem) => {
    const got = redirectUriProblem(uri);
    if (problem === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(problem);
  });

  it('matches exactly, except any port on a loopback http URI (same host, path and query)', () => {
    const registered = ['https://app.example.com/cb', 'http://127.0.0.1:3000/cb?x=1'];
    expect(redirectUriMatches(registered, 'https://app.example.com/cb')).toBe(true);
    expect(redirectUriMatches(registered, 'https://app.example.com:444/cb')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example.com/cb/')).toBe(false);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/cb?x=1')).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/cb')).toBe(false);
    expect(redirectUriMatches(registered, 'http://localhost:3000/cb?x=1')).toBe(false);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/cb?x=1#f')).toBe(false);
  });
});
