import { constants, createPrivateKey, JsonWebKey, KeyObject, randomUUID, sign as signWith } from 'node:crypto';

/** `federated`: a token about the agent from another issuer (Entra agent identity, Kubernetes), matched by its federated credential. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'federated';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Algorithms the vault accepts for client assertions (asymmetric only). */
export type AssertionAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';

export interface ClientCredentials {
  clientId: string;
  method: ClientAuthMethod;
  /** client_secret_basic / client_secret_post. */
  secret?: string;
  /** private_key_jwt: the agent's private key, whose public half is in its registered `jwks`. */
  privateKey?: KeyObject;
  keyId?: string;
  algorithm?: AssertionAlgorithm;
  /** private_key_jwt / federated: a fresh assertion per call, made elsewhere (a KMS, a workload identity). */
  assertion?: () => string | Promise<string>;
  /** `aud` of the assertions we sign: the vault's token endpoint under its public URL. */
  audience: string;
}

/**
 * Adds the client authentication of RFC 6749 §2.3.1 / RFC 7523 §2.2 to a token request:
 * an `Authorization` header (basic) or form parameters (post, private_key_jwt).
 */
export async function authenticate(c: ClientCredentials, form: URLSearchParams, headers: Record<string, string>): Promise<void> {
  switch (c.method) {
    case 'client_secret_basic': {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
      const enc = (s: string) => encodeURIComponent(s);
      headers.authorization = `Basic ${Buffer.from(`${enc(c.clientId)}:${enc(c.secret ?? '')}`).toString('base64')}`;
      return;
    }
    case 'client_secret_post':
      form.set('client_id', c.clientId);
      form.set('client_secret', c.secret ?? '');
      return;
    case 'federated':
    case 'private_key_jwt':
      form.set('client_id', c.clientId);
      form.set('client_assertion_type', JWT_BEARER_ASSERTION);
      form.set('client_assertion', c.assertion ? await c.assertion() : signAssertion(c));
      return;
  }
}

/** A one-minute client assertion with a fresh `jti` (the vault accepts each `jti` once). */
export function signAssertion(c: ClientCredentials, now = Date.now()): string {
  if (!c.privateKey) throw new TypeError('private_key_jwt needs a privateKey or a clientAssertion function');
  const alg = c.algorithm ?? defaultAlgorithm(c.privateKey);
  const iat = Math.floor(now / 1000);
  const header = { alg, typ: 'JWT', ...(c.keyId ? { kid: c.keyId } : {}) };
  const payload = { iss: c.clientId, sub: c.clientId, aud: c.audience, jti: randomUUID(), iat, exp: iat + 60 };
  const input = `${b64(header)}.${b64(payload)}`;
  const hash = `sha${alg.slice(2)}`;
  const signature = signWith(hash, Buffer.from(input), {
    key: c.privateKey,
    ...(alg.startsWith('ES') ? { dsaEncoding: 'ieee-p1363' as const } : {}),
    ...(alg.startsWith('PS') ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 } : {}),
  });
  return `${input}.${signature.toString('base64url')}`;
}

/** A KeyObject from what callers usually hold: a KeyObject, a PEM string or a private JWK. */
export function privateKeyOf(key: KeyObject | string | JsonWebKey): KeyObject {
  if (key instanceof KeyObject) return key;
  if (typeof key === 'string') return createPrivateKey(key);
  return createPrivateKey({ key, format: 'jwk' });
}

export function defaultAlgorithm(key: KeyObject): AssertionAlgorithm {
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') return 'ES256';
    if (curve === 'secp384r1' || curve === 'P-384') return 'ES384';
    if (curve === 'secp521r1' || curve === 'P-521') return 'ES512';
  }
  throw new TypeError('private_key_jwt needs an RSA or EC (P-256, P-384, P-521) private key');
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
