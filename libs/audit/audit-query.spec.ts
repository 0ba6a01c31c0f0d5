import fc from 'fast-check';
import { DomainError } from '../kernel';
import { decodeCursor, encodeCursor, parseAuditQuery } from './audit-query';

describe('parseAuditQuery', () => {
  it('defaults the limit and maps user to subject', () => {
    expect(parseAuditQuery({})).toEqual({ limit: 50 });
    expect(parseAuditQuery({ user: 'auth0|123', limit: '200', outcome: 'denied' })).toEqual({
      subject: 'auth0|123',
      limit: 200,
      outcome: 'denied',
    });
  });

  it('accepts ISO date-times with a zone and fractions', () => {
    expect(parseAuditQuery({ since: '2026-01-01T00:00:00.123456+01:00', until: '2026-01-02T00:00Z' })).toMatchObject({
      since: '2026-01-01T00:00:00.123456+01:00',
    });
  });

  it('refuses any string with a quote, space or semicolon in an identifier filter', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom("'", ' ', ';', '"', '\\', '\n'), fc.string(), (a, bad, b) => {
        expect(() => parseAuditQuery({ agent: `${a}${bad}${b}` })).toThrow(DomainError);
      }),
    );
  });
});

describe('cursor', () => {
  it('round-trips any seq and rejects anything encodeCursor would not produce', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 9223372036854775807n }), (n) => expect(decodeCursor(encodeCursor(String(n)))).toBe(String(n))),
    );
    for (const bad of [
      '',
      'x',
      encodeCursor('0'),
      encodeCursor('01'),
      encodeCursor('9223372036854775808'),
      `${encodeCursor('5')}=`,
      Buffer.from('5').toString('base64url'),
    ]) {
      expect(decodeCursor(bad)).toBeUndefined();
    }
  });
});
