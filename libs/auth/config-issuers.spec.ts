import { ConfigError, loadConfig } from '../config';

/** SECURITY 11: a bad TRUSTED_ISSUERS refuses to boot, naming the variable and echoing no values. */
const CANARY = 'canary-9f3b1c7e';
const jwk = { kty: 'RSA', kid: 'k1', n: 'AQAB', e: 'AQAB', d: CANARY };
const good = { issuer: 'https://sts.example.com', jwks_uri: 'https://sts.example.com/jwks', algorithms: ['RS256'] };

function configError(issuers: unknown): ConfigError {
  try {
    loadConfig({ NODE_ENV: 'test', TRUSTED_ISSUERS: typeof issuers === 'string' ? issuers : JSON.stringify(issuers) });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadConfig accepted a bad TRUSTED_ISSUERS');
}

describe('TRUSTED_ISSUERS validation', () => {
  it.each([
    ['missing issuer', { jwks_uri: good.jwks_uri, algorithms: ['RS256'] }],
    ['issuer not a URL', { ...good, issuer: 'sts' }],
    ['missing algorithms', { issuer: good.issuer, jwks_uri: good.jwks_uri }],
    ['empty algorithms', { ...good, algorithms: [] }],
    ['algorithms ["none"]', { ...good, algorithms: ['none'] }],
    ['algorithms ["HS256"]', { ...good, algorithms: ['HS256'] }],
    ['an HS algorithm next to a good one', { ...good, algorithms: ['RS256', 'HS512'] }],
    ['both jwks and jwks_uri', { ...good, jwks: { keys: [jwk] } }],
    ['neither jwks nor jwks_uri', { issuer: good.issuer, algorithms: ['RS256'] }],
    ['an unknown member', { ...good, jku_allowed: true }],
  ])('refuses %s', (_name, issuer) => {
    const err = configError([issuer]);
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) expect(p).toMatch(/^TRUSTED_ISSUERS/);
    expect(err.message).not.toContain(CANARY);
  });

  it('refuses invalid JSON and a non-array', () => {
    expect(configError('[{').problems).toEqual([expect.stringMatching(/^TRUSTED_ISSUERS/)]);
    expect(configError(good).problems[0]).toMatch(/^TRUSTED_ISSUERS/);
  });

  it('names every bad issuer at once', () => {
    const err = configError([good, { ...good, algorithms: ['none'] }, { ...good, issuer: undefined }]);
    expect(err.problems.some((p) => p.startsWith('TRUSTED_ISSUERS[1'))).toBe(true);
    expect(err.problems.some((p) => p.startsWith('TRUSTED_ISSUERS[2'))).toBe(true);
  });

  it('accepts a good issuer and defaults tenant_claim to tid', () => {
    expect(loadConfig({ NODE_ENV: 'test', TRUSTED_ISSUERS: JSON.stringify([good]) }).trustedIssuers).toEqual([
      { ...good, tenant_claim: 'tid' },
    ]);
  });
});
