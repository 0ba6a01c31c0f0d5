import { Secret } from '../kernel';
import { checkEventData } from './webhook-events';

/** What may enter the outbox: identifiers and states, never a secret. */
describe('webhook event data', () => {
  it('keeps a flat object of identifiers and states', () => {
    const data = {
      connection_id: 'c1',
      integration: 'gcal',
      user: 'alice',
      status: 'needs_reauth',
      error_class: 'terminal:invalid_grant',
      attempt: 2,
      dropped: undefined,
      retried: false,
      account: null,
    };
    expect(checkEventData(data)).toEqual({
      connection_id: 'c1',
      integration: 'gcal',
      user: 'alice',
      status: 'needs_reauth',
      error_class: 'terminal:invalid_grant',
      attempt: 2,
      retried: false,
      account: null,
    });
  });

  it.each([
    'access_token',
    'refresh_token',
    'client_secret',
    'api_key',
    'apiKey',
    'password',
    'authorization',
    'code_verifier',
    'credential',
  ])('refuses the key %s', (key) => {
    expect(() => checkEventData({ [key]: 'x' })).toThrow(TypeError);
  });

  it('refuses nested values, Secrets, long strings and odd keys', () => {
    expect(() => checkEventData({ details: { a: 1 } })).toThrow(TypeError);
    expect(() => checkEventData({ value: Secret.of('s3cret') })).toThrow(TypeError);
    expect(() => checkEventData({ value: 'x'.repeat(513) })).toThrow(TypeError);
    expect(() => checkEventData({ 'Bad-Key': 1 })).toThrow(TypeError);
    expect(() => checkEventData({ n: Number.NaN })).toThrow(TypeError);
  });
});
