import { displayNameProblem, logoUrlProblem } from './tenant-profile-rules';

describe('logoUrlProblem', () => {
  it('accepts a plain https URL', () => {
    expect(logoUrlProblem('https://cdn.example.com/logo.png')).toBeNull();
    expect(logoUrlProblem('https://cdn.example.com:8443/a/logo.svg?v=2')).toBeNull();
    expect(logoUrlProblem('https://xn--bcher-kva.example/logo.png')).toBeNull();
    expect(logoUrlProblem('https://CDN.Example.com/logo.png')).toBeNull();
  });

  it.each([
    ['javascript:alert(1)', /https URL/],
    ['data:image/png;base64,AAAA', /https URL/],
    ['http://cdn.example.com/logo.png', /https URL/],
    ['ftp://cdn.example.com/logo.png', /https URL/],
    ['//cdn.example.com/logo.png', /absolute https URL/],
    ['https://user:pw@cdn.example.com/logo.png', /user name or password/],
    ['https://user@cdn.example.com/logo.png', /user name or password/],
    ['https://10.0.0.1/logo.png', /not an IP address/],
    ['https://[::1]/logo.png', /not an IP address/],
    ['https://localhost/logo.png', /public host/],
    ['https://intranet/logo.png', /public host/],
    ['https://cdn.example.com/a b.png', /printable ASCII/],
    ['https://bücher.example/logo.png', /punycode/],
    ['https://cdn;script-src.example/logo.png', /letters, digits and hyphens/],
    ['https://cdn,x.example/logo.png', /letters, digits and hyphens/],
    ["https://cdn'x.example/logo.png", /letters, digits and hyphens/],
    ['https://cdn_x.example/logo.png', /letters, digits and hyphens/],
    ['https://-cdn.example/logo.png', /letters, digits and hyphens/],
  ])('refuses %s', (url, message) => {
    expect(logoUrlProblem(url)).toMatch(message);
  });

  it('refuses a URL over 2048 characters', () => {
    expect(logoUrlProblem(`https://cdn.example.com/${'a'.repeat(2048)}`)).toMatch(/at most 2048/);
  });
});

describe('displayNameProblem', () => {
  it('accepts a name, with spaces and non-Latin letters', () => {
    expect(displayNameProblem('Acme Travel')).toBeNull();
    expect(displayNameProblem('Müller & Søn — 東京')).toBeNull();
  });

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['Acme\nTravel', /control/],
    ['Acme\u202eevil', /text-direction/],
  ])('refuses %j', (name, message) => {
    expect(displayNameProblem(name)).toMatch(message);
  });

  it('refuses a name over 100 characters', () => {
    expect(displayNameProblem('x'.repeat(101))).toMatch(/at most 100/);
  });
});
