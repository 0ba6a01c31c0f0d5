import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { claims, countingServer, CountingServer, jsonServer, rejectionOf, rsaKey, sign, testConfig } from '../../test/auth/token-fixtures';
import { JWKS_REQUESTS_PER_MINUTE } from './issuer-keys';
import { TokenVerifier } from './token-verifier';
import { TrustedIssuerRegistry } from './trusted-issuer.registry';

const ISS = 'https://idp.example.com';
const ISS_INLINE = 'https://inline.example.com';
const issuerKey = rsaKey('idp-1');
const attackerKey = rsaKey('attacker-1');

let jwks: CountingServer;
let attacker: CountingServer;

beforeAll(async () => {
  jwks = await jsonServer(() => ({ keys: [issuerKey.jwk] }));
  attacker = await jsonServer(() => ({ keys: [attackerKey.jwk] }));
});
afterAll(async () => {
  await jwks.close();
  await attacker.close();
});
beforeEach(() => {
  jwks.requests.length = 0;
  attacker.requests.length = 0;
});

function verifierFor(jwksUri: string) {
  const config = testConfig([
    { issuer: ISS, jwks_uri: jwksUri, algorithms: ['RS256'] },
    { issuer: ISS_INLINE, jwks: { keys: [issuerKey.jwk] }, algorithms: ['RS256'] },
  ]);
  return new TokenVerifier(config, new TrustedIssuerRegistry(config));
}

async function expectInvalid(promise: Promise<unknown>) {
  const err = await rejectionOf(() => promise);
  expect(err.code).toBe('invalid_token');
  expect(err.status).toBe(401);
}

describe('jwks_uri issuers', () => {
  it('fetches the JWKS once and serves further tokens from the cache', async () => {
    const verifier = verifierFor(`${jwks.url}/jwks.json`);
    for (let i = 0; i < 5; i++) expect((await verifier.verify(sign(issuerKey, claims(ISS)))).issuer).toBe(ISS);
    expect(jwks.requests).toEqual(['/jwks.json']);
  });

  const hostileTokens = () => Array.from({ length: 100 }, () => sign({ ...issuerKey, kid: randomUUID() }, claims(ISS)));

  it(`rate-limits refetches: 100 random kids one after another cause at most ${JWKS_REQUESTS_PER_MINUTE} JWKS fetches`, async () => {
    const verifier = verifierFor(`${jwks.url}/jwks.json`);
    await verifier.verify(sign(issuerKey, claims(ISS)));
    for (const token of hostileTokens()) await expectInvalid(verifier.verify(token));
    expect(jwks.requests.length).toBe(JWKS_REQUESTS_PER_MINUTE); // the budget was reached, and held
    // The flood does not lock out the known key, nor a key the issuer already published.
    await expect(verifier.verify(sign(issuerKey, claims(ISS)))).resolves.toBeDefined();
    expect(jwks.requests.length).toBe(JWKS_REQUESTS_PER_MINUTE);
  });

  it('rate-limits concurrent floods without queueing them: 100 random kids at once', async () => {
    const verifier = verifierFor(`${jwks.url}/jwks.json`);
    await Promise.all(hostileTokens().map((t) => expectInvalid(verifier.verify(t))));
    expect(jwks.requests.length).toBeGreaterThanOrEqual(1);
    expect(jwks.requests.length).toBeLessThanOrEqual(JWKS_REQUESTS_PER_MINUTE);
    await expect(verifier.verify(sign(issuerKey, claims(ISS)))).resolves.toBeDefined();
  });

  it('never puts a hostile kid into the JWKS request', async () => {
    const verifier = verifierFor(`${jwks.url}/jwks.json`);
    for (const kid of ['../x', '../../admin', "' OR 1=1 --", '?kid=1', '#frag', '%2e%2e%2f', '__proto__']) {
      await expectInvalid(verifier.verify(sign({ ...issuerKey, kid }, claims(ISS))));
    }
    expect(new Set(jwks.requests)).toEqual(new Set(['/jwks.json']));
  });

  it('answers 401 (not a crash) when the JWKS endpoint is unreachable or not a JWKS', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const closed = await jsonServer(() => ({}));
    await closed.close();
    const broken = await countingServer((res) => res.writeHead(500).end('<html>oops</html>'));
    const notJwks = await countingServer((res) => res.writeHead(200).end('<html>hello</html>'));
    const noKeys = await jsonServer(() => ({ keys: 'none' }));
    for (const server of [closed, broken, notJwks, noKeys]) {
      await expectInvalid(verifierFor(`${server.url}/jwks.json`).verify(sign(issuerKey, claims(ISS))));
    }
    await Promise.all([broken.close(), notJwks.close(), noKeys.close()]);
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
  });

  it('does not follow a redirect from the JWKS endpoint', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const redirecting = await countingServer((res) => res.writeHead(302, { location: `${attacker.url}/jwks.json` }).end());
    await expectInvalid(verifierFor(`${redirecting.url}/jwks.json`).verify(sign(attackerKey, claims(ISS))));
    expect(redirecting.requests).toEqual(['/jwks.json']);
    expect(attacker.requests).toEqual([]);
    await redirecting.close();
    warn.mockRestore();
  });
});

describe('jku, x5u, jwk and x5c headers are ignored (SECURITY 4)', () => {
  const planted = () => ({
    jku: `${attacker.url}/jwks.json`,
    x5u: `${attacker.url}/cert.pem`,
    jwk: attackerKey.jwk,
    x5c: [Buffer.from('not a certificate').toString('base64')],
  });

  it.each([
    ['jku', (h: Record<string, unknown>) => ({ jku: h.jku })],
    ['x5u', (h: Record<string, unknown>) => ({ x5u: h.x5u })],
    ['jwk', (h: Record<string, unknown>) => ({ jwk: h.jwk })],
    ['x5c', (h: Record<string, unknown>) => ({ x5c: h.x5c })],
    ['all of them', (h: Record<string, unknown>) => h],
  ])('refuses attacker-signed tokens carrying %s, and never contacts the attacker', async (_name, pick) => {
    const verifier = verifierFor(`${jwks.url}/jwks.json`);
    const header = pick(planted());
    for (const iss of [ISS, ISS_INLINE]) {
      await expectInvalid(verifier.verify(sign(attackerKey, claims(iss), header))); // attacker's own kid
      await expectInvalid(verifier.verify(sign({ ...attackerKey, kid: issuerKey.kid }, claims(iss), header))); // borrowed kid
      await expectInvalid(verifier.verify(sign(attackerKey, claims(iss), { ...header, kid: undefined })));
    }
    expect(attacker.requests).toEqual([]);
  });

  it('verifies an issuer-signed token with planted headers by the issuer key alone', async () => {
    const verifier = verifierFor(`${jwks.url}/jwks.json`);
    await expect(verifier.verify(sign(issuerKey, claims(ISS), planted()))).resolves.toBeDefined();
    await expect(verifier.verify(sign(issuerKey, claims(ISS_INLINE), planted()))).resolves.toBeDefined();
    expect(attacker.requests).toEqual([]);
  });
});
