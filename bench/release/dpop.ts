import { createHash, createPublicKey, generateKeyPairSync, KeyObject, randomUUID, sign } from 'node:crypto';
import type { DpopProofs } from './load';

/**
 * The load generator's DPoP key (BENCH_DPOP=1): tokens carry `cnf.jkt` of it, and every request a
 * fresh ES256 proof (RFC 9449 §4.2) for its URL with the token's `ath`, signed here per request.
 */
export class BenchDpop implements DpopProofs {
  private readonly key: KeyObject;
  private readonly header: string;
  readonly jkt: string;
  private readonly ath = new Map<string, string>();

  constructor(private readonly publicUrl: string) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.key = pair.privateKey;
    const jwk = createPublicKey(this.key).export({ format: 'jwk' });
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    this.jkt = createHash('sha256').update(canonical).digest('base64url');
    this.header = b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } });
  }

  proof(path: string, token: string): string {
    let ath = this.ath.get(token);
    if (ath === undefined) this.ath.set(token, (ath = createHash('sha256').update(token).digest('base64url')));
    const payload = b64({ htm: 'POST', htu: this.publicUrl + path, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath });
    const input = `${this.header}.${payload}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}
