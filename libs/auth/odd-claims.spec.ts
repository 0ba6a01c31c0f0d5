import { sign as cryptoSign } from 'node:crypto';
import fc from 'fast-check';
import { b64url, claims, now, rejectionOf, rsaKey, sign, testConfig } from '../../test/auth/token-fixtures';
import { isWellFormedIdentifier } from './claim-checks';
import { TokenVerifier } from './token-verifier';
import { TrustedIssuerRegistry } from './trusted-issuer.registry';

/**
 * Issue 14 §4 / SECURITY 42-43: verified tokens with odd claim values are invalid tokens (401),
 * never a 500 further down (Postgres refuses NUL and lone surrogates) and never "no act".
 */
const ISS = 'https://sts.example.com';
const TYPED = 'https://typed.example.com';
const rsa = rsaKey('rsa-1');
const config = testConfig(
  [
    { issuer: ISS, jwks: { keys: [rsa.jwk] }, algorithms: ['RS256'] },
    { issuer: TYPED, jwks: { keys: [rsa.jwk] }, algorithms: ['RS256'], require_typ: 'at+jwt' },
  ],
  { VAULT_MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS: '3600' },
);
const verifier = new TokenVerifier(config, new TrustedIssuerRegistry(config));

async function expectInvalid(token: string): Promise<string> {
  const err = await rejectionOf(() => verifier.verify(token));
  expect([err.status, err.code]).toEqual([401, 'invalid_token']);
  return err.detail;
}

/** RS256 over a payload given as JSON text, for values JSON.stringify cannot write (1e999). */
function signText(payloadJson: string): string {
  const input = `${b64url({ alg: 'RS256', kid: rsa.kid })}.${Buffer.from(payloadJson).toString('base64url')}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`;
}

// One character no identifier may hold: C0/C1 controls, DEL, NUL, or half a surrogate pair.
const badChar = fc
  .oneof(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }), fc.integer({ min: 0xd800, max: 0xdfff }))
  .map((c) => String.fromCharCode(c));
const printable = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => isWellFormedIdentifier(s) || s === '');
const oddValue = fc.oneof(
  fc.tuple(printable, badChar, printable).map(([a, b, c]) => a + b + c),
  fc.string({ unit: 'grapheme-ascii', minLength: 256, maxLength: 400 }),
);
const place: Record<string, (v: string) => Record<string, unknown>> = {
  sub: (v) => ({ sub: v }),
  'act.sub': (v) => ({ act: { sub: v } }),
  'act.act.sub': (v) => ({ act: { sub: 'agent-1', act: { sub: v } } }),
  tid: (v) => ({ tid: v }),
  client_id: (v) => ({ client_id: v }),
  jti: (v) => ({ jti: v }),
};

describe('odd claim values (issue 14 §4)', () => {
  it.each(Object.keys(place))('%s: NUL, control characters, lone surrogates or > 255 chars → invalid_token', async (where) => {
    await fc.assert(
      fc.asyncProperty(oddValue, async (v) => {
        await expectInvalid(sign(rsa, claims(ISS, place[where](v))));
      }),
      { numRuns: 60 },
    );
  });

  it('well-formed identifiers up to 255 characters are accepted in every place', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 255 }).filter(isWellFormedIdentifier), async (v) => {
        const token = await verifier.verify(sign(rsa, claims(ISS, { sub: v, act: { sub: v }, client_id: v, jti: v })));
        expect([token.subject, token.agent]).toEqual([v, v]);
      }),
      { numRuns: 40 },
    );
    expect((await verifier.verify(sign(rsa, claims(ISS, { sub: 'x'.repeat(255) })))).subject).toHaveLength(255);
  });

  it('a malformed act at any depth is invalid, never "no act"', async () => {
    const malformed = fc.oneof(
      fc.string(),
      fc.array(fc.string()),
      fc.constant({}),
      fc.constant({ sub: '' }),
      fc.constant(null),
      fc.integer(),
      fc.record({ sub: fc.integer() }),
    );
    await fc.assert(
      fc.asyncProperty(malformed, fc.boolean(), async (act, nested) => {
        const detail = await expectInvalid(sign(rsa, claims(ISS, { act: nested ? { sub: 'agent-1', act } : act })));
        expect(detail).toBe('token act claim is malformed');
      }),
      { numRuns: 60 },
    );
  });
});

describe('token lifetime and type (issue 14 §4)', () => {
  it('exp must be a finite integer', async () => {
    const t = now();
    for (const exp of ['1e999', `${t + 60}.5`, `"${t + 60}"`, 'null']) {
      await expectInvalid(signText(`{"iss":"${ISS}","aud":"https://vault.test","sub":"u","tid":"acme","iat":${t},"exp":${exp}}`));
    }
    expect(
      (await verifier.verify(signText(`{"iss":"${ISS}","aud":"https://vault.test","sub":"u","tid":"acme","iat":${t},"exp":${t + 60}}`)))
        .subject,
    ).toBe('u');
  });

  it('exp - iat, or exp - now without iat, above VAULT_MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS is refused', async () => {
    const t = now();
    expect(await expectInvalid(sign(rsa, claims(ISS, { iat: t, exp: t + 3601 })))).toBe(
      'token lifetime exceeds the accepted maximum (3600 s)',
    );
    expect(await expectInvalid(sign(rsa, claims(ISS, { iat: t - 3000, exp: t + 700 })))).toMatch(/lifetime/);
    expect(await expectInvalid(sign(rsa, claims(ISS, { iat: undefined, exp: t + 3700 })))).toMatch(/lifetime/);
    expect((await verifier.verify(sign(rsa, claims(ISS, { iat: t, exp: t + 3600 })))).subject).toBe('user-1');
    expect((await verifier.verify(sign(rsa, claims(ISS, { iat: undefined, exp: t + 3500 })))).subject).toBe('user-1');
  });

  it('the default maximum is 86400 s', () => {
    expect(testConfig([]).maxExternalTokenLifetimeSeconds).toBe(86400);
  });

  it("require_typ: the issuer's tokens must carry that typ (RFC 8725 §3.11), compared as a media type", async () => {
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt'])
      expect((await verifier.verify(sign(rsa, claims(TYPED), { typ }))).issuer).toBe(TYPED);
    for (const typ of ['JWT', 'jwt', undefined, 'at+jwt2'])
      expect(await expectInvalid(sign(rsa, claims(TYPED), typ ? { typ } : {}))).toBe('token type is not accepted');
    // Other issuers do not require one.
    expect((await verifier.verify(sign(rsa, claims(ISS), { typ: 'JWT' }))).issuer).toBe(ISS);
  });
});
