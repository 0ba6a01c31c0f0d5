import fc from 'fast-check';
import { constantTimeEqual, Secret } from './secret';

/** SECURITY.md 25: secrets are compared in constant time, and unequal lengths never throw. */
describe('constantTimeEqual', () => {
  it.each([
    ['equal', 'sk-live-1234', 'sk-live-1234', true],
    ['empty and empty', '', '', true],
    ['same length, last character differs', 'sk-live-1234', 'sk-live-1235', false],
    ['same length, first character differs', 'xk-live-1234', 'sk-live-1234', false],
    ['prefix of the other', 'sk-live', 'sk-live-1234', false],
    ['longer than the other', 'sk-live-1234-and-more', 'sk-live-1234', false],
    ['empty against non-empty', '', 'sk-live-1234', false],
    ['non-empty against empty', 'sk-live-1234', '', false],
    ['one character against a megabyte', 'a', 'a'.repeat(1 << 20), false],
    ['differs only in normalisation (é as one or two code points)', '\u00e9', 'e\u0301', false],
    ['multi-byte against the same number of single bytes', '\u00e9\u00e9', 'aaaa', false],
  ])('%s', (_label, a, b, expected) => {
    expect(() => constantTimeEqual(a, b)).not.toThrow();
    expect(constantTimeEqual(a, b)).toBe(expected);
    expect(constantTimeEqual(b, a)).toBe(expected);
  });

  it('agrees with === on arbitrary strings of any lengths, and never throws', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(a === b);
        expect(constantTimeEqual(a, a)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  // KNOWN BUG (reported, libs/kernel/secret.ts is not ours to change here): both sides are hashed
  // as UTF-8, which turns every lone surrogate into U+FFFD, so distinct strings of equal length
  // compare equal. Hashing the UTF-16 code units (`update(a, 'utf16le')`) would be lossless.
  // Not reachable with generated secrets (base64url), but the primitive promises `===` semantics.
  it('does not conflate lone surrogates with each other or with U+FFFD', () => {
    expect(constantTimeEqual('\uD800', '\uDFFF')).toBe(false);
    expect(constantTimeEqual('\uFFFD', '\uD800')).toBe(false);
  });
});

describe('Secret.equals', () => {
  const s = Secret.of('client-secret-value');

  it('is true for the same value, as a string or as a Secret', () => {
    expect(s.equals('client-secret-value')).toBe(true);
    expect(s.equals(Secret.of('client-secret-value'))).toBe(true);
    expect(Secret.of('').equals('')).toBe(true);
    expect(Secret.of('').equals(Secret.of(''))).toBe(true);
  });

  it('is false for other values of any length, without throwing', () => {
    for (const other of ['client-secret-valuf', 'client-secret', 'client-secret-value-longer', '', '\u0000', '[REDACTED]']) {
      expect(() => s.equals(other)).not.toThrow();
      expect(s.equals(other)).toBe(false);
      expect(s.equals(Secret.of(other))).toBe(false);
    }
    expect(Secret.of('').equals('x')).toBe(false);
  });

  it('compares the value, not the redacted rendering', () => {
    // Both render as "[REDACTED]": a comparison through String() would call them equal.
    expect(String(Secret.of('a'))).toBe(String(Secret.of('b')));
    expect(Secret.of('a').equals(Secret.of('b'))).toBe(false);
  });
});
