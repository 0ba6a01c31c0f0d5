import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { context, nonceOf, open, seal } from './aead';
import { KeyUnwrapError } from './key-provider';

describe('AES-256-GCM sealing', () => {
  const key = randomBytes(32);
  const aad = context('field', 'acme', 'connections', 'id-1', 'api_key');

  it('round-trips and binds the AAD', () => {
    const blob = seal(key, Buffer.from('canary-secret'), aad);
    expect(open(key, blob, aad).toString()).toBe('canary-secret');
    expect(() => open(key, blob, context('field', 'acme', 'connections', 'id-2', 'api_key'))).toThrow(KeyUnwrapError);
    expect(() => open(key, blob, context('field', 'other', 'connections', 'id-1', 'api_key'))).toThrow(KeyUnwrapError);
  });

  it('context encoding is unambiguous', () => {
    expect(context('ab', 'c').equals(context('a', 'bc'))).toBe(false);
  });

  // SECURITY.md 21: any bit flip or truncation of nonce, ciphertext or tag throws; never partial plaintext.
  it('any bit flip or truncation throws the generic error (property)', () => {
    const plaintext = Buffer.from('a-secret-value-of-some-length');
    const blob = seal(key, plaintext, aad);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: blob.length * 8 - 1 }), (bit) => {
        const tampered = Buffer.from(blob);
        tampered[bit >> 3] ^= 1 << (bit & 7);
        expect(() => open(key, tampered, aad)).toThrow(KeyUnwrapError);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: blob.length - 1 }), (len) => {
        let out: Buffer | undefined;
        try {
          out = open(key, blob.subarray(0, len), aad);
        } catch (err) {
          expect(err).toBeInstanceOf(KeyUnwrapError);
        }
        expect(out).toBeUndefined();
      }),
    );
  });

  // SECURITY.md 22: 100k encryptions of the same plaintext → all nonces distinct; no API takes a nonce.
  it('100k encryptions of the same plaintext use distinct nonces', () => {
    const seen = new Set<string>();
    const pt = Buffer.from('same');
    for (let i = 0; i < 100_000; i++) seen.add(nonceOf(seal(key, pt, aad)).toString('hex'));
    expect(seen.size).toBe(100_000);
    expect(seal.length).toBe(3); // key, plaintext, aad: there is no nonce parameter
  });

  it('error messages carry no key material', () => {
    try {
      open(key, Buffer.alloc(40), aad);
      throw new Error('should have thrown');
    } catch (err) {
      expect(String(err)).toBe('KeyUnwrapError: key unwrap failed');
      expect(JSON.stringify(err)).not.toContain(key.toString('hex'));
    }
  });
});
