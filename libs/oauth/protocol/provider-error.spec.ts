import fc from 'fast-check';
import { OTHER_PROVIDER_ERROR, providerErrorCode, STANDARD_PROVIDER_ERRORS } from './provider-error';

/** SECURITY 44: a provider's `error` value maps onto a closed set. */
describe('providerErrorCode', () => {
  it("keeps the standard codes and the entry's known ones (Slack puts its own in `error`)", () => {
    for (const code of STANDARD_PROVIDER_ERRORS) expect(providerErrorCode(code)).toBe(code);
    expect(providerErrorCode('invalid_refresh_token', ['invalid_refresh_token', 'token_revoked'])).toBe('invalid_refresh_token');
    expect(providerErrorCode('invalid_refresh_token')).toBe(OTHER_PROVIDER_ERROR);
    // Microsoft's AADSTS codes live in error_description, never in error: only `error` is read.
    expect(providerErrorCode('AADSTS700082')).toBe(OTHER_PROVIDER_ERROR);
  });

  it('anything else, whatever its shape, is `other`', () => {
    const known = ['bad_refresh_token'];
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-z_]{1,64}$/), fc.anything()), (v) => {
        const out = providerErrorCode(v, known);
        expect(STANDARD_PROVIDER_ERRORS.has(out) || known.includes(out) || out === OTHER_PROVIDER_ERROR).toBe(true);
        if (out !== OTHER_PROVIDER_ERROR) expect(out).toBe(v);
      }),
    );
  });
});
