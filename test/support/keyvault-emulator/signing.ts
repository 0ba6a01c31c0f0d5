import { constants, KeyObject, privateEncrypt, randomBytes } from 'node:crypto';
import { KeyVaultError } from './keys';

/**
 * Key Vault's `sign`: the caller sends a digest, never the data. node:crypto only signs data it
 * hashes itself, so the emulator signs digests the way an HSM does: RS256 as PKCS#1 v1.5 over the
 * DigestInfo, ES256 as ECDSA over P-256 (JWS form, r||s), in BigInt arithmetic (test-only).
 */
export function signDigest(alg: unknown, privateKey: KeyObject, kty: string, digest: Buffer): Buffer {
  if (alg === 'RS256' && kty.startsWith('RSA')) {
    if (digest.length !== 32) throw new KeyVaultError(400, 'BadParameter', 'Invalid digest length for RS256.');
    return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, digest]));
  }
  if (alg === 'ES256' && kty.startsWith('EC')) {
    if (digest.length !== 32) throw new KeyVaultError(400, 'BadParameter', 'Invalid digest length for ES256.');
    const jwk = privateKey.export({ format: 'jwk' });
    if (jwk.crv !== 'P-256' || !jwk.d) throw new KeyVaultError(400, 'BadParameter', 'ES256 needs a P-256 key.');
    return ecdsaP256(BigInt(`0x${Buffer.from(jwk.d, 'base64url').toString('hex')}`), digest);
  }
  throw new KeyVaultError(400, 'BadParameter', `Unsupported algorithm for this key: ${String(alg)}`);
}

const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

// NIST P-256 (FIPS 186-4 D.1.2.3).
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const A = P - 3n;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const G: Point = {
  x: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  y: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
};

type Point = { x: bigint; y: bigint } | null;

const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;

function inverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}

function add(p: Point, q: Point): Point {
  if (!p) return q;
  if (!q) return p;
  if (p.x === q.x && mod(p.y + q.y, P) === 0n) return null;
  const l = p.x === q.x && p.y === q.y ? mod((3n * p.x * p.x + A) * inverse(2n * p.y, P), P) : mod((q.y - p.y) * inverse(q.x - p.x, P), P);
  const x = mod(l * l - p.x - q.x, P);
  return { x, y: mod(l * (p.x - x) - p.y, P) };
}

function multiply(k: bigint, p: Point): Point {
  let result: Point = null;
  let addend = p;
  for (let e = k; e > 0n; e >>= 1n) {
    if (e & 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

function ecdsaP256(d: bigint, digest: Buffer): Buffer {
  const z = BigInt(`0x${digest.toString('hex')}`);
  for (;;) {
    const k = mod(BigInt(`0x${randomBytes(40).toString('hex')}`), N - 1n) + 1n;
    const r = mod(multiply(k, G)!.x, N);
    const s = mod(inverse(k, N) * (z + r * d), N);
    if (r !== 0n && s !== 0n) return Buffer.from(r.toString(16).padStart(64, '0') + s.toString(16).padStart(64, '0'), 'hex');
  }
}
