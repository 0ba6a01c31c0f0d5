import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  JsonWebKey,
  KeyObject,
  randomUUID,
  sign as signWith,
} from 'node:crypto';
import { AssertionAlgorithm, defaultAlgorithm, privateKeyOf } from './client-auth';

/**
 * The agent's DPoP key (RFC 9449): a proof per request — `htm`, `htu`, a fresh `jti`, `iat`, and
 * `ath` (the hash of the access token) when one is presented — signed with the private key and
 * carrying the public JWK in its header. Without a key one EC P-256 key is generated per client;
 * the vault binds every token it issues to this client to that key (`cnf.jkt`).
 */
export class DpopSigner {
  readonly #key: KeyObject;
  readonly #alg: AssertionAlgorithm;
  readonly #jwk: Record<string, unknown>;

  constructor(key?: KeyObject | string | JsonWebKey) {
    this.#key = key === undefined ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : privateKeyOf(key);
    this.#alg = defaultAlgorithm(this.#key);
    const pub = createPublicKey(this.#key).export({ format: 'jwk' });
    // Only the public members (RFC 7638 order does not matter here; the vault computes the thumbprint).
    this.#jwk = pub.kty === 'EC' ? { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y } : { kty: pub.kty, n: pub.n, e: pub.e };
  }

  /** A proof for one request; `url` without query (the vault compares scheme, host and path). */
  proof(method: string, url: string, accessToken?: string, now = Date.now()): string {
    const header = { typ: 'dpop+jwt', alg: this.#alg, jwk: this.#jwk };
    const payload = {
      jti: randomUUID(),
      htm: method,
      htu: url,
      iat: Math.floor(now / 1000),
      ...(accessToken !== undefined ? { ath: createHash('sha256').update(accessToken).digest('base64url') } : {}),
    };
    const input = `${b64(header)}.${b64(payload)}`;
    const alg = this.#alg;
    const signature = signWith(`sha${alg.slice(2)}`, Buffer.from(input), {
      key: this.#key,
      ...(alg.startsWith('ES') ? { dsaEncoding: 'ieee-p1363' as const } : {}),
      ...(alg.startsWith('PS') ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 } : {}),
    });
    return `${input}.${signature.toString('base64url')}`;
  }
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
