import { issuerProblem } from './issuer-rules';

describe('issuerProblem', () => {
  it('accepts https anywhere and http on loopback outside production', () => {
    expect(issuerProblem('https://login.example.com', true)).toBeNull();
    expect(issuerProblem('https://login.example.com/tenant-1/v2.0', false)).toBeNull();
    for (const host of ['127.0.0.1:9090', 'localhost:3000', '[::1]:8080']) expect(issuerProblem(`http://${host}`, false)).toBeNull();
  });

  it('refuses plain http in production, even on loopback', () => {
    for (const host of ['127.0.0.1:9090', 'localhost:3000', '[::1]:8080']) expect(issuerProblem(`http://${host}`, true)).toMatch(/https/);
  });

  it.each([
    ['http://login.example.com', /https/],
    ['http://10.0.0.1', /https/],
    ['ftp://127.0.0.1', /https/],
    ['not a url', /absolute/],
    ['https://u:p@login.example.com', /user info/],
    ['https://login.example.com/?a=1', /query/],
    ['https://login.example.com/#x', /fragment/],
  ])('%s is refused', (issuer, why) => {
    expect(issuerProblem(issuer, false)).toMatch(why);
  });
});
