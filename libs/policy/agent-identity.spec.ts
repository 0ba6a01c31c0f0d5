import { DomainError } from '../kernel';
import { checkIdentityFields, credentialMatches } from './agent-identity';

const ISS = 'https://login.microsoftonline.com/tid/v2.0';
const TOKEN_ENDPOINT = 'https://vault.example/oauth2/token';
const credential = { issuer: ISS, subject: 'oid-1', audiences: ['api://vault'], claims: { azp: 'blueprint', ver: '2.0' } };
const payload = { iss: ISS, sub: 'oid-1', aud: 'api://vault', azp: 'blueprint', ver: '2.0', idtyp: 'app' };

describe('credentialMatches (a federated credential against a verified assertion)', () => {
  it('matches issuer, subject, one audience (string or list) and every claim exactly', () => {
    expect(credentialMatches(credential, payload, [TOKEN_ENDPOINT])).toBe(true);
    expect(credentialMatches(credential, { ...payload, aud: ['other', 'api://vault'] }, [TOKEN_ENDPOINT])).toBe(true);
  });

  it('refuses any difference', () => {
    for (const change of [
      { iss: `${ISS}/` },
      { sub: 'oid-2' },
      { aud: 'api://other' },
      { aud: [] },
      { aud: undefined },
      { azp: 'another-blueprint' },
      { ver: 2 },
      { ver: undefined },
    ]) {
      expect(credentialMatches(credential, { ...payload, ...change }, [TOKEN_ENDPOINT])).toBe(false);
    }
  });

  it('without audiences, the fallback (the token endpoint) is required', () => {
    const bare = { ...credential, audiences: [], claims: {} };
    expect(credentialMatches(bare, { ...payload, aud: TOKEN_ENDPOINT }, [TOKEN_ENDPOINT])).toBe(true);
    expect(credentialMatches(bare, payload, [TOKEN_ENDPOINT])).toBe(false);
  });
});

describe('checkIdentityFields', () => {
  const fields = (input: Parameters<typeof checkIdentityFields>[0]) => {
    try {
      checkIdentityFields(input);
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(DomainError);
      return ((err as DomainError).details.extra?.errors as Array<{ field: string }>).map((e) => e.field);
    }
  };

  it('normalises omitted audiences and claims, and de-duplicates accepted audiences', () => {
    expect(checkIdentityFields({ federated_credentials: [{ issuer: ISS, subject: 's' }], accepted_audiences: ['a', 'a'] })).toEqual({
      federated_credentials: [{ issuer: ISS, subject: 's', audiences: [], claims: {} }],
      accepted_audiences: ['a'],
    });
    expect(checkIdentityFields({})).toEqual({});
  });

  it('names each bad field', () => {
    expect(fields({ federated_credentials: [{ issuer: 'http://plain.example', subject: 's' }] })).toEqual([
      'federated_credentials.0.issuer',
    ]);
    expect(fields({ federated_credentials: [{ issuer: ISS, subject: 's', claims: { exp: 1, tid: { a: 1 } } }] })).toEqual([
      'federated_credentials.0.claims.exp',
      'federated_credentials.0.claims.tid',
    ]);
    expect(fields({ federated_credentials: Array.from({ length: 21 }, (_, i) => ({ issuer: ISS, subject: `s${i}` })) })).toEqual([
      'federated_credentials',
    ]);
    expect(fields({ accepted_audiences: ['ok', 'bad\u0000'] })).toEqual(['accepted_audiences.1']);
  });
});
