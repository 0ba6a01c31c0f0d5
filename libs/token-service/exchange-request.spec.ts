import { formOf, parseExchangeRequest, presentedClient, TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from './exchange-request';
import { OAuthError } from './oauth-error';

const VAULT = ['https://vault.example'];
const base = {
  grant_type: TOKEN_EXCHANGE_GRANT,
  subject_token: 'a.b.c',
  subject_token_type: TOKEN_TYPES.accessToken,
  scope: 'connections:openai',
};

function oauthError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthError);
    return (err as OAuthError).error;
  }
  throw new Error('no error');
}

describe('parseExchangeRequest', () => {
  it('parses a minimal request; scopes de-duplicated in order', () => {
    const r = parseExchangeRequest(
      { ...base, scope: 'connections:b connections:a connections:b', resource: VAULT[0], expires_in: '60' },
      VAULT,
    );
    expect(r).toEqual({
      subjectToken: 'a.b.c',
      subjectTokenType: TOKEN_TYPES.accessToken,
      targets: VAULT,
      requestedScopes: ['connections:b', 'connections:a'],
      requestedTtlSeconds: 60,
    });
  });

  it.each([
    [{ ...base, grant_type: 'authorization_code' }, 'unsupported_grant_type'],
    [{ ...base, grant_type: undefined }, 'invalid_request'],
    [{ ...base, subject_token: undefined }, 'invalid_request'],
    [{ ...base, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }, 'invalid_request'],
    [{ ...base, actor_token: 'x.y.z' }, 'invalid_request'],
    [{ ...base, actor_token_type: TOKEN_TYPES.jwt }, 'invalid_request'],
    [{ ...base, subject_token: ['a', 'b'] }, 'invalid_request'],
    [{ ...base, audience: 'https://other.example' }, 'invalid_target'],
    [{ ...base, resource: [VAULT[0], 'https://other.example'] }, 'invalid_target'],
    [{ ...base, scope: undefined }, 'invalid_scope'],
    [{ ...base, scope: 'connections:"x"' }, 'invalid_scope'],
    [{ ...base, expires_in: '0' }, 'invalid_request'],
    [{ ...base, expires_in: '1e3' }, 'invalid_request'],
  ])('refuses %j with %s', (form, code) => {
    expect(oauthError(() => parseExchangeRequest(form as Record<string, unknown>, VAULT))).toBe(code);
  });
});

describe('presentedClient', () => {
  const basicOf = (id: string, secret: string) =>
    `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

  it('reads HTTP Basic with form-urlencoded parts (RFC 6749 §2.3.1)', () => {
    const p = presentedClient({}, basicOf('mcp-1', 's3cr:et+/='));
    expect(p).toMatchObject({ kind: 'secret', method: 'client_secret_basic', clientId: 'mcp-1' });
    expect(p.kind === 'secret' && p.secret.reveal()).toBe('s3cr:et+/=');
    expect(String(p.kind === 'secret' && p.secret)).toBe('[REDACTED]');
  });

  it('reads client_secret_post and client assertions', () => {
    expect(presentedClient({ client_id: 'a', client_secret: 's' }, undefined)).toMatchObject({
      kind: 'secret',
      method: 'client_secret_post',
      clientId: 'a',
    });
    expect(
      presentedClient(
        { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'x.y.z' },
        undefined,
      ),
    ).toEqual({ kind: 'assertion', assertion: 'x.y.z' });
  });

  it.each([
    [{}, undefined, 'invalid_client'],
    [{ client_id: 'a' }, undefined, 'invalid_client'],
    [{ client_secret: 's' }, undefined, 'invalid_client'],
    [{ client_id: 'a', client_secret: 's' }, basicOf('a', 's'), 'invalid_request'],
    [{ client_id: 'b' }, basicOf('a', 's'), 'invalid_request'],
    [{ client_assertion: 'x.y.z' }, undefined, 'invalid_client'],
    [{}, 'Bearer abc', 'invalid_client'],
    [{}, 'Basic !!!', 'invalid_client'],
    [{}, `Basic ${Buffer.from('no-colon').toString('base64')}`, 'invalid_client'],
  ])('refuses %j with %s', (form, authorization, code) => {
    expect(oauthError(() => presentedClient(form, authorization))).toBe(code);
  });
});

describe('formOf', () => {
  it('takes form bodies only', () => {
    expect(formOf('application/x-www-form-urlencoded; charset=utf-8', { a: '1' })).toEqual({ a: '1' });
    expect(oauthError(() => formOf('application/json', { a: '1' }))).toBe('invalid_request');
    expect(oauthError(() => formOf(undefined, undefined))).toBe('invalid_request');
  });
});
