import { OAuthError } from '../oauth-error';
import { authReqIdOf, parseBackchannelRequest } from './ciba-request';

const ok = { scope: 'connections:openai', login_hint_token: 'eyJ.user.token' };
const refusal = (form: Record<string, unknown>): { error: string; description: string } => {
  try {
    parseBackchannelRequest(form);
  } catch (err) {
    if (err instanceof OAuthError) return { error: err.error, description: err.description };
    throw err;
  }
  throw new Error('accepted');
};

describe('parseBackchannelRequest (CIBA Core 1.0 §7.1)', () => {
  it('reads the user token, the integrations (openid ignored), the message, details and expiry', () => {
    expect(
      parseBackchannelRequest({
        ...ok,
        scope: 'openid connections:openai connections:gh connections:openai',
        binding_message: 'Order 4711',
        authorization_details: '[{"type":"payment","amount":"1.00"}]',
        requested_expiry: '120',
      }),
    ).toEqual({
      userToken: 'eyJ.user.token',
      hint: 'login_hint_token',
      integrations: ['openai', 'gh'],
      scopes: ['connections:openai', 'connections:gh'],
      bindingMessage: 'Order 4711',
      authorizationDetails: [{ type: 'payment', amount: '1.00' }],
      requestedExpiry: 120,
    });
    expect(parseBackchannelRequest({ scope: 'connections:openai', id_token_hint: 't' })).toMatchObject({
      hint: 'id_token_hint',
      userToken: 't',
    });
  });

  it('needs exactly one hint, and not a bare login_hint', () => {
    expect(refusal({ scope: ok.scope })).toMatchObject({ error: 'invalid_request' });
    expect(refusal({ ...ok, id_token_hint: 'x' })).toMatchObject({ error: 'invalid_request' });
    expect(refusal({ scope: ok.scope, login_hint: 'alice' }).description).toMatch(/login_hint is not accepted/);
  });

  it('refuses scopes that are not connections:<integration>, and repeated parameters', () => {
    expect(refusal({ ...ok, scope: 'connections:' })).toMatchObject({ error: 'invalid_scope' });
    expect(refusal({ ...ok, scope: 'email' })).toMatchObject({ error: 'invalid_scope' });
    expect(refusal({ ...ok, scope: ['connections:a', 'connections:b'] })).toMatchObject({ error: 'invalid_request' });
  });

  it("with resource (RFC 8707) the scopes are the resource's own, and still required", () => {
    const crm = 'https://crm.example.test';
    expect(parseBackchannelRequest({ ...ok, resource: crm, scope: 'crm:write crm:read' })).toMatchObject({
      resource: crm,
      integrations: [],
      scopes: ['crm:write', 'crm:read'],
    });
    expect(refusal({ ...ok, resource: crm, scope: '' })).toMatchObject({ error: 'invalid_scope' });
    expect(refusal({ ...ok, resource: [crm, crm], scope: 'crm:write' })).toMatchObject({ error: 'invalid_request' });
  });

  it('bounds the binding message (64 characters, one line) and the details (array of typed objects)', () => {
    expect(parseBackchannelRequest({ ...ok, binding_message: 'x'.repeat(64) }).bindingMessage).toHaveLength(64);
    expect(refusal({ ...ok, binding_message: 'x'.repeat(65) })).toMatchObject({ error: 'invalid_binding_message' });
    expect(refusal({ ...ok, binding_message: 'a\u0007b' })).toMatchObject({ error: 'invalid_binding_message' });
    for (const bad of ['[]', '{}', 'not json', '[{"type":""}]', '[1]', `[${'{"type":"t"},'.repeat(10)}{"type":"t"}]`])
      expect(refusal({ ...ok, authorization_details: bad })).toMatchObject({ error: 'invalid_request' });
    expect(refusal({ ...ok, requested_expiry: '-5' })).toMatchObject({ error: 'invalid_request' });
  });
});

describe('authReqIdOf', () => {
  it('needs one auth_req_id', () => {
    expect(authReqIdOf({ auth_req_id: 'abc' })).toBe('abc');
    expect(() => authReqIdOf({})).toThrow(OAuthError);
    expect(() => authReqIdOf({ auth_req_id: ['a', 'b'] })).toThrow(/must not be repeated/);
  });
});
