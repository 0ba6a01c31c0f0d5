import { createHmac } from 'node:crypto';
import { Secret } from '../kernel';
import { newSigningSecret, signDelivery, signingKey } from './signing';

/** Standard Webhooks v1 signatures, checked against the specification's own test vector and an independent computation. */
describe('webhook signing', () => {
  it('reproduces the Standard Webhooks reference signature', () => {
    const key = signingKey(Secret.of('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'));
    expect(signDelivery(key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('a fresh secret is whsec_ + base64 of 32 random bytes, and signs what a receiver computes from it', () => {
    const secret = newSigningSecret();
    const raw = secret.reveal();
    expect(raw).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(String(secret)).toBe('[REDACTED]');
    expect(newSigningSecret().reveal()).not.toBe(raw);
    // What a receiver does with the secret it was given (the spec's verification steps).
    const body = JSON.stringify({ id: 'e1', type: 'connection.created', data: { user: 'ä' } });
    const expected = createHmac('sha256', Buffer.from(raw.split('_')[1], 'base64'))
      .update(`e1.1700000000.${body}`)
      .digest('base64');
    expect(signDelivery(signingKey(secret), 'e1', 1700000000, body)).toBe(`v1,${expected}`);
  });

  it('id, timestamp and body are all covered', () => {
    const key = signingKey(newSigningSecret());
    const base = signDelivery(key, 'a', 1, '{}');
    expect(signDelivery(key, 'b', 1, '{}')).not.toBe(base);
    expect(signDelivery(key, 'a', 2, '{}')).not.toBe(base);
    expect(signDelivery(key, 'a', 1, '{ }')).not.toBe(base);
  });

  it('refuses a secret too short to be one', () => {
    expect(() => signingKey(Secret.of('whsec_c2hvcnQ='))).toThrow(/too short/);
  });
});
