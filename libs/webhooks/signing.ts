import { createHmac, randomBytes } from 'node:crypto';
import { Secret } from '../kernel';

/** Standard Webhooks secrets are `whsec_` + base64 of the key bytes; receivers' libraries expect that form. */
const PREFIX = 'whsec_';

/** A fresh signing secret: 32 random bytes, in the Standard Webhooks form. */
export function newSigningSecret(): Secret {
  return Secret.of(PREFIX + randomBytes(32).toString('base64'));
}

/** The HMAC key a `whsec_…` secret stands for (the prefix is optional, as in the reference libraries). */
export function signingKey(secret: Secret): Buffer {
  const raw = secret.reveal();
  const key = Buffer.from(raw.startsWith(PREFIX) ? raw.slice(PREFIX.length) : raw, 'base64');
  if (key.length < 16) throw new Error('webhook signing secret is too short');
  return key;
}

/**
 * The `webhook-signature` header of one delivery (Standard Webhooks v1): base64 HMAC-SHA256 over
 * `id.timestamp.body`, where `timestamp` is the attempt's Unix time in seconds and `body` the exact
 * bytes sent. Binding id and timestamp lets a receiver refuse replays outside its tolerance window.
 *
 * @example
 *   const sig = signDelivery(key, '3f0c…', 1614265330, '{"type":"connection.created",…}');
 *   // → "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
 */
export function signDelivery(key: Buffer, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}
