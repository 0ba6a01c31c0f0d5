import { Secret } from '../kernel';
import { AuditInputError } from './audit.types';
import fc from 'fast-check';
import { encodeDetails, prepareEvent, sanitizeDetails } from './audit-event';
import { canonicalEvent, canonicalJson } from './canonical';

const base = { tenant: 'acme', action: 'credential.release', outcome: 'allowed' as const };

describe('prepareEvent', () => {
  it('assigns a v4 uuid and an ISO time with milliseconds; absent fields become null', () => {
    const e = prepareEvent(base, new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)));
    expect(e.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(e.beforeSeq + '7' + e.afterSeq + '}').toBe(
      canonicalEvent({
        ...base,
        seq: '7',
        id: e.id,
        at: '2026-01-02T03:04:05.006Z',
        reason: null,
        agent: null,
        subject: null,
        integration: null,
        details: {},
      }),
    );
  });

  it('refuses outcomes and actions outside the allowlist', () => {
    expect(() => prepareEvent({ ...base, outcome: 'ok' as never })).toThrow(AuditInputError);
    expect(() => prepareEvent({ ...base, action: 'Credential Release' })).toThrow(AuditInputError);
  });
});

describe('sanitizeDetails', () => {
  it('redacts Secret anywhere and turns dates into ISO strings', () => {
    const s = Secret.of('canary-value');
    expect(sanitizeDetails({ a: s, b: [s, { c: s }], when: new Date(0), skipped: undefined })).toEqual({
      a: '[REDACTED]',
      b: ['[REDACTED]', { c: '[REDACTED]' }],
      when: '1970-01-01T00:00:00.000Z',
    });
  });

  it.each([
    'token',
    'id_token',
    'clientSecret',
    'PASSWORD',
    'api-key',
    'private_key',
    'Authorization',
    'set-cookie',
    'client_assertion',
    'code_verifier',
  ])('refuses the key %s at any depth', (key) => {
    expect(() => sanitizeDetails({ [key]: 'x' })).toThrow(AuditInputError);
    expect(() => sanitizeDetails({ outer: [{ [key]: 'x' }] })).toThrow(AuditInputError);
  });

  it('keeps a "__proto__" key as data', () => {
    const clean = sanitizeDetails(JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(Object.keys(clean)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses values that are not JSON, too deep or too large', () => {
    for (const bad of [new Map(), new Error('x'), 1n, Symbol('s'), NaN, Buffer.from('x')])
      expect(() => sanitizeDetails({ v: bad })).toThrow(AuditInputError);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 12; i++) deep = { d: deep };
    expect(() => sanitizeDetails(deep)).toThrow(AuditInputError);
    expect(() => sanitizeDetails({ big: 'x'.repeat(20_000) })).toThrow(AuditInputError);
  });
});

describe('encodeDetails (the one-pass form prepareEvent uses)', () => {
  const twoStep = (d: Record<string, unknown>) => canonicalJson(sanitizeDetails(d));
  const outcome = (f: () => string): string => {
    try {
      return f();
    } catch (err) {
      return `${(err as Error).constructor.name}`;
    }
  };

  it('is canonicalJson(sanitizeDetails(details)) for any JSON-ish value, Secrets, dates and undefined included', () => {
    const leaf = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.date(),
      fc.constant(Secret.of('canary')),
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('v'), { maxKeys: 5 })),
    })).v;
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 20 }), (d) => {
        expect(outcome(() => encodeDetails(d))).toBe(outcome(() => twoStep(d)));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses what sanitizeDetails refuses, naming the same place', () => {
    const cases: Array<Record<string, unknown>> = [
      { a: [1, { token: 'x' }] },
      { a: { b: [0, NaN] } },
      { a: ['\u0000'] },
      { big: 'x'.repeat(20_000) },
      { m: new Map() },
      { d: new Date(NaN) },
    ];
    for (const c of cases) {
      const msg = (f: () => unknown) => {
        try {
          f();
          return 'no error';
        } catch (err) {
          return (err as Error).message;
        }
      };
      expect(msg(() => encodeDetails(c))).toBe(msg(() => sanitizeDetails(c)));
    }
  });
});
