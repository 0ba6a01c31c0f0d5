import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import {
  AUDIENCE,
  claims,
  craft,
  ecKey,
  hs256,
  now,
  rejectionOf,
  rs256ByHand,
  rsaKey,
  sign,
  SKEW,
  testConfig,
} from '../../test/auth/token-fixtures';
import { TokenVerifier } from './token-verifier';
import { TrustedIssuerRegistry } from './trusted-issuer.registry';

const ISS = 'https://sts.example.com';
const ISS_EC = 'https://ec.example.com';
const ISS_DEFAULT = 'https://default-tenant.example.com';
const rsa = rsaKey('rsa-1');
const rsa2 = rsaKey('rsa-2');
const ec = ecKey('ec-1');
const pinned = rsaKey('pinned', 'RS256', true);
const stranger = rsaKey('rsa-1'); // same kid as the issuer's key, different key pair

function setup() {
  const config = testConfig([
    { issuer: ISS, jwks: { keys: [rsa.jwk, rsa2.jwk, ec.jwk, pinned.jwk] }, algorithms: ['RS256', 'PS256', 'ES256'] },
    { issuer: ISS_EC, jwks: { keys: [ec.jwk] }, algorithms: ['ES256'], tenant_claim: 'org' },
    { issuer: ISS_DEFAULT, jwks: { keys: [rsa.jwk] }, algorithms: ['RS256'], default_tenant: 'fallback' },
  ]);
  const registry = new TrustedIssuerRegistry(config);
  return { registry, verifier: new TokenVerifier(config, registry) };
}

async function expectInvalid(verifier: TokenVerifier, token: string, reason?: string) {
  const err = await rejectionOf(() => verifier.verify(token));
  expect(err.code).toBe('invalid_token');
  expect(err.status).toBe(401);
  if (reason) expect(err.detail).toBe(reason);
  // Nothing of the token leaks into the error.
  for (const part of token.split('.').filter((p) => p.length > 8)) expect(err.message).not.toContain(part);
  return err;
}

describe('TokenVerifier', () => {
  const { verifier, registry } = setup();

  it('accepts a well-formed agent token and maps it', async () => {
    const payload = claims(ISS, { roles: ['finance'] });
    const token = await verifier.verify(sign(rsa, payload));
    expect(token).toEqual({
      issuer: ISS,
      tenant: 'acme',
      subject: 'user-1',
      agent: 'agent-1',
      actorChain: ['agent-1'],
      scopes: ['connections:github', 'connections:slack'],
      jti: payload.jti,
      expiresAt: payload.exp,
      claims: payload,
    });
    expect(Object.isFrozen(token) && Object.isFrozen(token.scopes) && Object.isFrozen(token.claims)).toBe(true);
  });

  it('accepts ES256 and PS256 from the allowlist, and `scp` as array or string', async () => {
    expect((await verifier.verify(sign(ec, claims(ISS, { scope: undefined, scp: ['a', 'b'] })))).scopes).toEqual(['a', 'b']);
    const ps = { ...rsa2, alg: 'PS256' as const };
    expect((await verifier.verify(sign(ps, claims(ISS, { scope: undefined, scp: 'x y' })))).scopes).toEqual(['x', 'y']);
  });

  describe('algorithm attacks (SECURITY 1, 2)', () => {
    it.each(['none', 'None', 'NONE', 'nOnE'])('refuses alg %s, with and without a signature', async (alg) => {
      await expectInvalid(verifier, craft({ alg, kid: rsa.kid }, claims(ISS)), 'token algorithm is not accepted');
      await expectInvalid(verifier, craft({ alg, kid: rsa.kid }, claims(ISS), 'c2ln'), 'token algorithm is not accepted');
      await expectInvalid(verifier, craft({ alg }, claims(ISS)), 'token algorithm is not accepted');
    });

    it('refuses HS256 signed with the issuer RSA public key as the HMAC secret', async () => {
      const pem = rsa.publicKey.export({ format: 'pem', type: 'spki' });
      const secrets = [
        pem,
        pem.toString().trim(),
        rsa.publicKey.export({ format: 'der', type: 'spki' }),
        JSON.stringify(rsa.jwk),
        rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }),
      ];
      for (const secret of secrets) {
        await expectInvalid(verifier, hs256({ kid: rsa.kid, typ: 'JWT' }, claims(ISS), secret), 'token algorithm is not accepted');
      }
    });

    it('refuses an algorithm the issuer does not allow, and one the key does not match', async () => {
      await expectInvalid(verifier, sign(rsa, claims(ISS_EC)), 'token algorithm is not accepted'); // RS256 at an ES256-only issuer
      await expectInvalid(verifier, sign({ ...rsa, alg: 'RS512' }, claims(ISS)), 'token algorithm is not accepted');
      // ES256 signature presented under the RSA key's kid: the key type does not fit the alg.
      await expectInvalid(verifier, sign({ ...ec, kid: rsa.kid }, claims(ISS)));
      // The JWK pins RS256; the same key used with PS256 is refused.
      await expectInvalid(verifier, sign({ ...pinned, alg: 'PS256' }, claims(ISS)), 'token algorithm is not accepted');
    });
  });

  describe('keys (SECURITY 3)', () => {
    it.each([randomUUID(), '../x', '../../etc/passwd', "' OR 1=1 --", '__proto__', 'constructor', '%00', 'x'.repeat(5000)])(
      'refuses an unknown or hostile kid %#',
      async (kid) => {
        const err = await expectInvalid(verifier, sign({ ...rsa, kid }, claims(ISS)));
        expect(['token signing key is not known', 'token is malformed']).toContain(err.detail);
      },
    );

    it('refuses a non-string kid, and a missing kid when the issuer has several keys', async () => {
      await expectInvalid(verifier, sign(rsa, claims(ISS), { kid: 42 }), 'token signing key is not known');
      await expectInvalid(verifier, sign(rsa, claims(ISS), { kid: undefined }), 'token signing key is not known');
    });

    it('uses the only key when a single-key issuer omits kid', async () => {
      expect((await verifier.verify(sign(ec, claims(ISS_EC, { org: 'o1' }), { kid: undefined }))).tenant).toBe('o1');
    });

    it('refuses a signature by another key under a known kid, and a tampered payload', async () => {
      await expectInvalid(verifier, sign(stranger, claims(ISS)), 'token signature is invalid');
      const [h, , s] = sign(rsa, claims(ISS)).split('.');
      await expectInvalid(
        verifier,
        `${h}.${Buffer.from(JSON.stringify(claims(ISS, { sub: 'admin' }))).toString('base64url')}.${s}`,
        'token signature is invalid',
      );
    });

    it('refuses critical header extensions', async () => {
      await expectInvalid(verifier, sign(rsa, claims(ISS), { crit: ['exp'], exp: 1 }), 'token uses unsupported critical header parameters');
    });
  });

  describe('claims (SECURITY 5)', () => {
    it('refuses an untrusted or missing iss', async () => {
      await expectInvalid(verifier, sign(rsa, claims('https://evil.example.com')), 'token issuer is not trusted');
      await expectInvalid(verifier, sign(rsa, claims(`${ISS}/`)), 'token issuer is not trusted');
      await expectInvalid(verifier, sign(rsa, claims(ISS, { iss: undefined })), 'token issuer is not trusted');
      await expectInvalid(verifier, sign(rsa, claims(ISS, { iss: [ISS] })), 'token issuer is not trusted');
    });

    it('refuses a wrong or missing aud', async () => {
      await expectInvalid(verifier, sign(rsa, claims(ISS, { aud: 'https://other.example' })), 'token audience is not accepted');
      await expectInvalid(verifier, sign(rsa, claims(ISS, { aud: undefined })), 'token audience is not accepted');
      expect((await verifier.verify(sign(rsa, claims(ISS, { aud: AUDIENCE })))).subject).toBe('user-1');
    });

    it('applies the clock skew to exp and nbf', async () => {
      await expectInvalid(verifier, sign(rsa, claims(ISS, { exp: now() - SKEW - 5 })), 'token has expired');
      await expectInvalid(verifier, sign(rsa, claims(ISS, { nbf: now() + SKEW + 30 })), 'token is not yet valid');
      await expect(verifier.verify(sign(rsa, claims(ISS, { exp: now() - 5 })))).resolves.toBeDefined();
      await expect(verifier.verify(sign(rsa, claims(ISS, { nbf: now() + SKEW - 10 })))).resolves.toBeDefined();
    });

    it('refuses a token without exp, with a non-numeric exp, or issued in the future', async () => {
      await expectInvalid(verifier, sign(rsa, claims(ISS, { exp: undefined })), 'token has no expiry');
      await expectInvalid(verifier, rs256ByHand(rsa, {}, claims(ISS, { exp: String(now() + 60) })), 'token time claims are invalid');
      await expectInvalid(verifier, rs256ByHand(rsa, {}, claims(ISS, { nbf: 'soon' })), 'token time claims are invalid');
      // The hand-made signature itself is good: the same route with sane claims verifies.
      await expect(verifier.verify(rs256ByHand(rsa, {}, claims(ISS)))).resolves.toBeDefined();
      await expectInvalid(verifier, sign(rsa, claims(ISS, { iat: now() + SKEW + 60 })), 'token issue time is invalid');
    });

    it('refuses a token without sub', async () => {
      await expectInvalid(verifier, sign(rsa, claims(ISS, { sub: undefined })), 'token has no subject');
    });
  });

  describe('tenant', () => {
    it('reads the issuer tenant claim, refusing missing or invalid values without a default', async () => {
      expect((await verifier.verify(sign(ec, claims(ISS_EC, { org: 'globex', tid: 'ignored' })))).tenant).toBe('globex');
      await expectInvalid(verifier, sign(rsa, claims(ISS, { tid: undefined })), 'token has no tenant');
      await expectInvalid(verifier, sign(rsa, claims(ISS, { tid: '../other' })), 'token tenant is not valid');
      await expectInvalid(verifier, sign(rsa, claims(ISS, { tid: ['acme'] })), 'token tenant is not valid');
    });

    it('maps tokens without the claim to default_tenant, and still honours the claim', async () => {
      expect((await verifier.verify(sign(rsa, claims(ISS_DEFAULT, { tid: undefined })))).tenant).toBe('fallback');
      expect((await verifier.verify(sign(rsa, claims(ISS_DEFAULT)))).tenant).toBe('acme');
    });
  });

  describe('actors', () => {
    it('takes the OUTERMOST act.sub as the agent and keeps the chain', async () => {
      const token = await verifier.verify(sign(rsa, claims(ISS, { act: { sub: 'other', act: { sub: 'allowed-agent' } } })));
      expect(token.agent).toBe('other');
      expect(token.actorChain).toEqual(['other', 'allowed-agent']);
    });

    it('has no agent for user tokens (no act)', async () => {
      const token = await verifier.verify(sign(rsa, claims(ISS, { act: undefined })));
      expect(token.agent).toBeUndefined();
      expect(token.actorChain).toEqual([]);
    });

    it('refuses a malformed act instead of reading it as "no actor" (issue 14 §4)', async () => {
      for (const act of [
        {},
        { act: { sub: 'inner' } },
        'agent-1',
        { sub: 42 },
        { sub: '' },
        ['agent-1'],
        null,
        { sub: 'a', act: 'b' },
        { sub: 'a', act: {} },
      ]) {
        await expectInvalid(verifier, sign(rsa, claims(ISS, { act })), 'token act claim is malformed');
      }
    });
  });

  describe('malformed input', () => {
    it.each([
      ['empty', ''],
      ['two segments', 'a.b'],
      ['JWE (five segments)', 'a.b.c.d.e'],
      ['non-JSON header', `${Buffer.from('nope').toString('base64url')}.e30.`],
      ['array payload', craft({ alg: 'RS256' }, [] as unknown as Record<string, unknown>)],
      ['non-base64url characters', 'ey!.ey!.x'],
      ['too long', sign(rsa, claims(ISS, { pad: 'x'.repeat(20_000) }))],
    ])('refuses %s', async (_name, token) => {
      await expectInvalid(verifier, token, 'token is malformed');
    });
  });

  describe('registered issuers', () => {
    it('verifies with keys the vault holds itself', async () => {
      const own = ecKey('own-1');
      registry.register({
        issuer: 'http://localhost:8080',
        algorithms: ['ES256'],
        tenant_claim: 'tid',
        getKey: async (kid) => {
          if (kid !== own.kid) throw new Error('unknown kid');
          return own.publicKey;
        },
      });
      expect((await verifier.verify(sign(own, claims('http://localhost:8080')))).issuer).toBe('http://localhost:8080');
      await expectInvalid(verifier, sign({ ...own, kid: 'nope' }, claims('http://localhost:8080')), 'token signing key is not known');
    });

    it('refuses a getKey that returns a private key', async () => {
      const own = ecKey('own-2');
      registry.register({
        issuer: 'https://private.example',
        algorithms: ['ES256'],
        tenant_claim: 'tid',
        getKey: async () => own.privateKey,
      });
      await expectInvalid(verifier, sign(own, claims('https://private.example')), 'token signing key is not known');
    });

    it('refuses duplicates, symmetric algorithms and invalid default tenants', () => {
      const getKey = async () => rsa.publicKey;
      expect(() => registry.register({ issuer: ISS, algorithms: ['RS256'], tenant_claim: 'tid', getKey })).toThrow(/twice/);
      expect(() => registry.register({ issuer: 'https://hs', algorithms: ['HS256' as 'RS256'], tenant_claim: 'tid', getKey })).toThrow(
        /asymmetric/,
      );
      expect(() => registry.register({ issuer: 'https://none', algorithms: [], tenant_claim: 'tid', getKey })).toThrow(/asymmetric/);
      expect(() =>
        registry.register({ issuer: 'https://t', algorithms: ['RS256'], tenant_claim: 'tid', default_tenant: '../x', getKey }),
      ).toThrow(/default_tenant/);
      expect(() =>
        registry.register({
          issuer: 'https://oct',
          jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] },
          algorithms: ['RS256'],
          tenant_claim: 'tid',
        }),
      ).toThrow(/not a usable public key/);
    });
  });

  describe('cache', () => {
    it('returns the verified result for a repeated token without verifying again', async () => {
      const raw = sign(rsa, claims(ISS));
      const spy = jest.spyOn(jwt, 'verify');
      const first = await verifier.verify(raw);
      const second = await verifier.verify(raw);
      expect(second).toBe(first);
      expect(spy).toHaveBeenCalledTimes(1);
      spy.mockRestore();
    });

    it('does not cache failures', async () => {
      const raw = sign(rsa, claims(ISS, { aud: 'https://nope' }));
      await expectInvalid(verifier, raw);
      await expectInvalid(verifier, raw);
    });
  });
});
