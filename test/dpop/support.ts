import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, CryptoKey, exportJWK, generateKeyPair, JWK, SignJWT } from 'jose';

export const PUBLIC_URL = 'https://vault.test.example';

/** An agent's DPoP key and the proofs it signs (RFC 9449 §4.2), with jose; `over` replaces claims or header members. */
export class DpopKey {
  private constructor(
    private readonly privateKey: CryptoKey,
    readonly jwk: JWK,
    readonly jkt: string,
  ) {}

  static async create(): Promise<DpopKey> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    return new DpopKey(privateKey, jwk, await calculateJwkThumbprint(jwk, 'sha256'));
  }

  proof(
    htm: string,
    path: string,
    accessToken?: string,
    over: { claims?: Record<string, unknown>; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const claims: Record<string, unknown> = {
      htm,
      htu: PUBLIC_URL + path,
      jti: randomUUID(),
      iat: Math.floor(Date.now() / 1000),
      ...(accessToken ? { ath: createHash('sha256').update(accessToken).digest('base64url') } : {}),
      ...over.claims,
    };
    for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: this.jwk, ...over.header }).sign(this.privateKey);
  }
}

export const RELEASE_PATH = '/v1/connections/openai/token';
