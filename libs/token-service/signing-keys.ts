import { createPrivateKey, createPublicKey, generateKeyPairSync, JsonWebKey, KeyObject, createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { context, KeyUnwrapError, open, seal, SystemKeys } from '../crypto';
import { NewSigningKey, SigningKeyStore, StoredSigningKey } from './signing-key.store';

/** The system key (32 bytes, wrapped by the KEK) under which signing keys are sealed. */
const SEALING_PURPOSE = 'token-signing';
export const SIGNING_ALG = 'ES256';
/** How often a replica re-reads the key set (a rotation elsewhere reaches it within this). */
const REFRESH_MS = 30_000;
/** An unknown `kid` triggers a re-read at most this often. */
const MISS_REFRESH_MS = 1_000;

interface PublishedKey {
  kid: string;
  jwk: Record<string, unknown>;
  publicKey: KeyObject;
  status: 'active' | 'previous';
  rotatedAt: Date | null;
}

interface KeySet {
  loadedAt: number;
  active: { kid: string; privateKey: KeyObject };
  published: PublishedKey[];
}

/**
 * The ES256 keys the token service signs with. Private keys live in `signing_keys`, sealed
 * (AES-256-GCM, AAD = kid + alg) under a system key that the KEK wraps, so KEK rotation and
 * rewrap cover them with no extra work. One key is `active`; `rotate()` demotes it to
 * `previous`, which stays in the JWKS for the overlap (the longest token lifetime plus skew and
 * the refresh interval) and signs nothing more. Every replica re-reads the set periodically and
 * on an unknown `kid`, so a token signed by a replica that rotated verifies everywhere.
 */
@Injectable()
export class TokenSigningKeys {
  private readonly log = new Logger('TokenSigningKeys');
  private current?: KeySet;
  private loading?: Promise<KeySet>;
  private lastMissRefresh = 0;

  constructor(
    private readonly store: SigningKeyStore,
    private readonly systemKeys: SystemKeys,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  /** An instance of its own, for a process that does not run the token service (the CLI, the worker). */
  static onDataSource(ds: DataSource, systemKeys: SystemKeys, config: VaultConfig): TokenSigningKeys {
    return new TokenSigningKeys(new SigningKeyStore(ds), systemKeys, config);
  }

  /** Never print key material, whoever logs this object. */
  [inspect.custom](): string {
    return `TokenSigningKeys(active=${this.current?.active.kid ?? '-'})`;
  }

  /** How long a demoted key stays published. */
  get overlapSeconds(): number {
    return this.config.tokenMaxTtlSeconds + this.config.clockSkewSeconds + REFRESH_MS / 1000 + 60;
  }

  /** The key to sign with now (created on first use). */
  async signingKey(): Promise<{ kid: string; alg: typeof SIGNING_ALG; privateKey: KeyObject }> {
    const set = await this.keySet();
    return { kid: set.active.kid, alg: SIGNING_ALG, privateKey: set.active.privateKey };
  }

  /** A published public key by `kid`; rejects for an unknown or retired one. */
  async publicKey(kid: string | undefined): Promise<KeyObject> {
    if (typeof kid !== 'string') throw new Error('a kid is required');
    let found = this.published(await this.keySet()).find((k) => k.kid === kid);
    if (!found && Date.now() - this.lastMissRefresh >= MISS_REFRESH_MS) {
      this.lastMissRefresh = Date.now();
      found = this.published(await this.keySet(true)).find((k) => k.kid === kid);
    }
    if (!found) throw new Error('unknown kid');
    return found.publicKey;
  }

  /** The JWKS: the active key and the previous ones still inside their overlap. */
  async jwks(): Promise<{ keys: Array<Record<string, unknown>> }> {
    return { keys: this.published(await this.keySet()).map((k) => k.jwk) };
  }

  /**
   * Makes a new active key; the old one is published (verify-only) for `overlapSeconds`, and
   * keys past their overlap are retired. Safe across replicas: one transaction, row locks.
   */
  async rotate(): Promise<{ kid: string; previous: string | null }> {
    const sealingKey = await this.systemKeys.get(SEALING_PURPOSE);
    const fresh = newKey(sealingKey);
    const previous = await this.store.rotate(fresh, this.overlapSeconds);
    this.log.log(`token signing key rotated: active=${fresh.kid} previous=${previous ?? '-'}`);
    await this.keySet(true);
    return { kid: fresh.kid, previous };
  }

  private published(set: KeySet): PublishedKey[] {
    const cutoff = Date.now() - this.overlapSeconds * 1000;
    return set.published.filter((k) => k.status === 'active' || (k.rotatedAt !== null && k.rotatedAt.getTime() >= cutoff));
  }

  private keySet(force = false): Promise<KeySet> {
    const fresh = this.current && Date.now() - this.current.loadedAt < REFRESH_MS;
    if (fresh && !force) return Promise.resolve(this.current!);
    // Concurrent callers share one load; a failed refresh keeps serving the last good set.
    this.loading ??= this.load()
      .then((set) => (this.current = set))
      .catch((err: unknown) => {
        if (this.current && !force) return this.current;
        throw err;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<KeySet> {
    let rows = await this.store.published();
    if (!rows.some((r) => r.status === 'active')) {
      // Two replicas may race here: the partial unique index lets exactly one insert win.
      await this.store.insertFirst(newKey(await this.systemKeys.get(SEALING_PURPOSE)));
      rows = await this.store.published();
    }
    const activeRow = rows.find((r) => r.status === 'active');
    if (!activeRow) throw new Error('no active token signing key');
    const active =
      this.current?.active.kid === activeRow.kid ? this.current.active : { kid: activeRow.kid, privateKey: await this.unseal(activeRow) };
    return {
      loadedAt: Date.now(),
      active,
      published: rows.map((r) => ({
        kid: r.kid,
        jwk: r.publicJwk,
        publicKey: createPublicKey({ key: r.publicJwk as JsonWebKey, format: 'jwk' }),
        status: r.status,
        rotatedAt: r.rotatedAt,
      })),
    };
  }

  private async unseal(row: StoredSigningKey): Promise<KeyObject> {
    let der: Buffer;
    try {
      // Bound to its kid and algorithm (its identifying columns): a key copied under another kid does not open.
      der = open(await this.systemKeys.get(SEALING_PURPOSE), row.privateKeySealed ?? Buffer.alloc(0), sealingContext(row.kid));
    } catch (err) {
      if (err instanceof KeyUnwrapError) this.log.error(`ALERT decrypt_failed table=signing_keys record=${row.kid} field=private_key`);
      throw err;
    }
    try {
      return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
  }
}

function sealingContext(kid: string): Buffer {
  return context('signing-key', kid, SIGNING_ALG);
}

/** A fresh P-256 key: its public JWK (kid = RFC 7638 thumbprint) and its sealed PKCS#8. */
function newKey(sealingKey: Buffer): NewSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = publicKey.export({ format: 'jwk' }) as { crv: string; kty: string; x: string; y: string };
  const kid = createHash('sha256')
    .update(JSON.stringify({ crv: pub.crv, kty: pub.kty, x: pub.x, y: pub.y }))
    .digest('base64url');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  try {
    return {
      kid,
      alg: SIGNING_ALG,
      jwk: { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, use: 'sig', alg: SIGNING_ALG },
      sealed: seal(sealingKey, der, sealingContext(kid)),
    };
  } finally {
    der.fill(0);
  }
}
