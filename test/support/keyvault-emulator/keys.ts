import { constants, generateKeyPair, KeyObject, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

export type KeyType = 'RSA' | 'RSA-HSM' | 'EC' | 'EC-HSM';
export const KEY_SIZES = [2048, 3072, 4096] as const;
export const DEFAULT_KEY_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];

export interface CreateKeyOptions {
  kty?: KeyType;
  keySize?: number;
  /** EC keys: the curve (only P-256, the curve the emulator's `sign` implements). */
  crv?: 'P-256';
  keyOps?: string[];
  enabled?: boolean;
}

/** One version of a key. The private half never leaves this module except through `decrypt`. */
export interface KeyVersion {
  name: string;
  version: string;
  kty: KeyType;
  keySize: number;
  keyOps: string[];
  enabled: boolean;
  created: number;
  updated: number;
  /** The public JWK members: n, e (RSA) or crv, x, y (EC). */
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A `{"error":{code,message}}` answer with its HTTP status. */
export class KeyVaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The Key Vault JSON algorithm names the emulator supports, mapped to node:crypto OAEP hashes. */
const OAEP_HASH: Record<string, string> = { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256' };

function oaepHash(alg: unknown): string {
  const hash = typeof alg === 'string' ? OAEP_HASH[alg] : undefined;
  if (!hash) throw new KeyVaultError(400, 'BadParameter', `Unsupported algorithm: ${String(alg)}`);
  return hash;
}

/** RSA-OAEP encrypt (`wrapkey`/`encrypt`) with the version's public key. */
export function encrypt(key: KeyVersion, alg: unknown, value: Buffer): Buffer {
  return publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(alg) }, value);
}

/** RSA-OAEP decrypt (`unwrapkey`/`decrypt`); any padding failure is one generic BadParameter. */
export function decrypt(key: KeyVersion, alg: unknown, value: Buffer): Buffer {
  const hash = oaepHash(alg);
  try {
    return privateDecrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, value);
  } catch {
    throw new KeyVaultError(400, 'BadParameter', 'The parameter is incorrect.');
  }
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** In-memory keys by case-insensitive name; the last version of each is the current one. */
export class KeyStore {
  private readonly keys = new Map<string, KeyVersion[]>();

  async create(name: string, opts: CreateKeyOptions = {}): Promise<KeyVersion> {
    const kty = opts.kty ?? 'RSA';
    const ec = kty === 'EC' || kty === 'EC-HSM';
    const keySize = ec ? 256 : (opts.keySize ?? 2048);
    if (!ec && kty !== 'RSA' && kty !== 'RSA-HSM') throw new KeyVaultError(400, 'BadParameter', `Unsupported key type: ${String(kty)}`);
    if (ec && (opts.crv ?? 'P-256') !== 'P-256') throw new KeyVaultError(400, 'BadParameter', `Unsupported curve: ${String(opts.crv)}`);
    if (!ec && !(KEY_SIZES as readonly number[]).includes(keySize))
      throw new KeyVaultError(400, 'BadParameter', `Unsupported key size: ${keySize}`);
    const { privateKey, publicKey } = ec
      ? await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
      : await generateKeyPairAsync('rsa', { modulusLength: keySize });
    const jwk = publicKey.export({ format: 'jwk' });
    const at = nowSeconds();
    const key: KeyVersion = {
      name,
      version: randomBytes(16).toString('hex'),
      kty,
      keySize,
      keyOps: opts.keyOps ?? DEFAULT_KEY_OPS,
      enabled: opts.enabled ?? true,
      created: at,
      updated: at,
      ...(ec ? { crv: jwk.crv, x: jwk.x, y: jwk.y } : { n: jwk.n, e: jwk.e }),
      privateKey,
      publicKey,
    };
    const versions = this.keys.get(name.toLowerCase()) ?? [];
    if (versions.length) key.name = versions[0].name;
    versions.push(key);
    this.keys.set(name.toLowerCase(), versions);
    return key;
  }

  /** A new version with the current version's type, size and operations. */
  async rotate(name: string): Promise<KeyVersion> {
    const current = this.get(name);
    return this.create(name, {
      kty: current.kty,
      keySize: current.keySize,
      keyOps: current.keyOps,
      ...(current.crv ? { crv: 'P-256' as const } : {}),
    });
  }

  /** The named version, or the current one; KeyNotFound (404) when absent. */
  get(name: string, version?: string): KeyVersion {
    const versions = this.keys.get(name.toLowerCase()) ?? [];
    const key = version ? versions.find((v) => v.version === version) : versions[versions.length - 1];
    if (!key)
      throw new KeyVaultError(
        404,
        'KeyNotFound',
        `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`,
      );
    return key;
  }

  versions(name: string): KeyVersion[] {
    const versions = this.keys.get(name.toLowerCase());
    if (!versions) throw new KeyVaultError(404, 'KeyNotFound', `A key with (name/id) ${name} was not found in this key vault.`);
    return [...versions];
  }

  currentVersions(): KeyVersion[] {
    return [...this.keys.values()].map((v) => v[v.length - 1]);
  }

  update(name: string, version: string, patch: { enabled?: boolean; keyOps?: string[] }): KeyVersion {
    const key = this.get(name, version);
    if (patch.enabled !== undefined) key.enabled = patch.enabled;
    if (patch.keyOps) key.keyOps = patch.keyOps;
    key.updated = nowSeconds();
    return key;
  }
}

/** The real KeyBundle shape: `{ key: JWK (public only), attributes }`. */
export function keyBundle(vaultUrl: string, key: KeyVersion): object {
  return {
    key: {
      kid: `${vaultUrl}/keys/${key.name}/${key.version}`,
      kty: key.kty,
      key_ops: key.keyOps,
      ...(key.crv ? { crv: key.crv, x: key.x, y: key.y } : { n: key.n, e: key.e }),
    },
    attributes: attributes(key),
  };
}

/** The KeyItem shape used by list operations. */
export function keyItem(vaultUrl: string, key: KeyVersion, withVersion: boolean): object {
  return { kid: `${vaultUrl}/keys/${key.name}${withVersion ? `/${key.version}` : ''}`, attributes: attributes(key) };
}

function attributes(key: KeyVersion): object {
  return { enabled: key.enabled, created: key.created, updated: key.updated, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 };
}
