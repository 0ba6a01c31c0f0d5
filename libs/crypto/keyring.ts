import { inspect } from 'node:util';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { DomainError, TenantId } from '../kernel';
import { AadScheme, blobOf, checkRef, CURRENT_AAD_SCHEME, fieldAad, framed, RecordRef, schemeOf, SEALED_TABLES } from './aad-scheme';
import { context, open, seal } from './aead';
import { KeyProvider, KeyProviderUnavailableError, KeyUnwrapError } from './key-provider';
import { TenantKeyCache } from './tenant-key-cache';
import { TenantKeyStore } from './tenant-key-store';

/** What a wrapped DEK is bound to: the record, not its owner columns (a DEK rewrap reads no more than this). */
export type DekRef = Pick<RecordRef, 'tenant' | 'table' | 'id'>;

export interface SealedRecord {
  tkVersion: number;
  dekWrapped: Buffer;
  fields: Record<string, Buffer | null>;
}

export interface KeyringOptions {
  cacheSize: number;
  cacheMaxAgeMs: number;
  /**
   * The background probe's period: writes trust the provider's last known state (actual failures
   * and this probe) and send it nothing of their own. 0 = a health read before every write (strict).
   */
  writeHealthTtlMs: number;
  /** Encryptions under one TK before a new TK version is made (well below 2^32). */
  maxEncryptionsPerKey: number;
}

/*
 * Tables whose records carry a DEK wrapped by a tenant key (`SEALED_TABLES`, from `SEALED_LAYOUT`):
 * columns `tenant`, `id` (uuid, part of the AAD with the table name), `tk_version`, `dek_wrapped`.
 * Retirement counts them all; the tenant-key rotation job rewraps them all.
 */

const DEK_FORMAT = 0x01;
const BIND = 32; // SHA-256 of the context, prefixed to key material before the KEK wraps it
const ZERO_KEY = Buffer.alloc(32);

/** Refuses a key buffer the cache has zeroed: encrypting under it would publish the plaintext. */
function live(key: Buffer): Buffer {
  if (key.length !== 32 || key.equals(ZERO_KEY))
    throw new Error('tenant key buffer is no longer live (zeroed on eviction); nothing was encrypted');
  return key;
}

/**
 * The key hierarchy of DESIGN.md: KEK (provider) → tenant key → per-record DEK → fields.
 * Hot reads touch only the in-memory TK cache; the provider is called on a cache miss
 * (unwrap) or when a tenant gets its first key.
 */
export class Keyring {
  /** Never print key material, connection strings or caches, whoever logs this object. */
  [inspect.custom](): string {
    return `Keyring(provider=${this.provider.kind}, cached=${this.cache.size})`;
  }

  readonly cache: TenantKeyCache;
  private readonly store: TenantKeyStore;
  /** False until the provider's `init()` has completed (it may be retried in the background at boot). */
  private providerReady = true;
  /** Set by an actual failure (not a throttle) of a provider call or the probe; cleared by a success. */
  private providerDown = false;
  private probe?: NodeJS.Timeout;
  /** Per tenant, the oldest AAD scheme still opened (raised once its re-seal job finished). */
  private readonly aadFloor = new Map<string, AadScheme>();

  constructor(
    private readonly ds: DataSource,
    readonly provider: KeyProvider,
    private readonly opts: KeyringOptions,
  ) {
    this.cache = new TenantKeyCache(opts.cacheSize, opts.cacheMaxAgeMs);
    this.store = new TenantKeyStore(ds);
  }

  /** Encrypts the fields of one record under a fresh DEK, wrapped by the tenant's active TK. */
  async seal(ref: RecordRef, fields: Record<string, Buffer | null>): Promise<SealedRecord> {
    checkRef(ref);
    await this.ensureWritable();
    const version = await this.activeVersion(ref.tenant);
    const count = await this.store.countEncryption(ref.tenant, version);
    // The cached TK is taken last, with no await between it and its use: the cache zeroes an
    // evicted buffer on a later tick, and a DEK wrapped under zeros would be readable by anyone.
    const tk = live(await this.cachedKey(ref.tenant, version));
    const dek = randomBytes(32);
    try {
      const out: Record<string, Buffer | null> = {};
      for (const [name, value] of Object.entries(fields))
        out[name] = value === null ? null : sealField(dek, ref, name, value, CURRENT_AAD_SCHEME);
      const header = Buffer.alloc(5);
      header[0] = DEK_FORMAT;
      header.writeUInt32BE(version, 1);
      const dekWrapped = Buffer.concat([header, seal(tk, dek, dekAad(ref, version))]);
      if (count >= this.opts.maxEncryptionsPerKey) await this.rotateTenantKey(ref.tenant);
      return { tkVersion: version, dekWrapped, fields: out };
    } finally {
      dek.fill(0);
    }
  }

  /**
   * Decrypts one field, under the AAD scheme its header names. Every failure is the same generic
   * `KeyUnwrapError`: a tampered or moved ciphertext, a relabelled row, a scheme the tenant no
   * longer accepts.
   */
  open(ref: RecordRef, dekWrapped: Buffer, field: string, ciphertext: Buffer): Promise<Buffer> {
    // With the tenant key cached (every release after warm-up), all of it synchronously: one promise, not four async calls'.
    try {
      const plain = this.openCached(ref, dekWrapped, field, ciphertext);
      if (plain) return Promise.resolve(plain);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.unwrapDek(ref, dekWrapped).then((dek) => this.openWithDek(dek, ref, field, ciphertext));
  }

  /**
   * `open` synchronously when the tenant key is cached: the plaintext, or undefined when the key
   * is not (then only `open` can answer). Throws what `open` would reject with.
   */
  openCached(ref: RecordRef, dekWrapped: Buffer, field: string, ciphertext: Buffer): Buffer | undefined {
    checkRef(ref);
    const version = Keyring.versionOf(dekWrapped);
    const tk = this.cache.peek(`${ref.tenant}\u0000${version}`);
    return tk && this.openWithDek(open(tk, dekWrapped.subarray(5), dekAad(ref, version)), ref, field, ciphertext);
  }

  /** Opens a field with its record's DEK, and zeroes the DEK whatever happens. */
  private openWithDek(dek: Buffer, ref: RecordRef, field: string, ciphertext: Buffer): Buffer {
    try {
      return this.openField(dek, ref, field, ciphertext);
    } finally {
      dek.fill(0);
    }
  }

  /**
   * Re-seals the fields of one record under AAD scheme `to`, with the same DEK (the wrapped DEK and
   * its tenant-key version stay as they are). Each field is opened under the scheme it names first,
   * so a relabelled row fails here as it would on a read. The re-seal job's one crypto step.
   */
  async reseal(
    ref: RecordRef,
    dekWrapped: Buffer,
    fields: Record<string, Buffer | null>,
    to: AadScheme,
  ): Promise<Record<string, Buffer | null>> {
    checkRef(ref);
    const dek = await this.unwrapDek(ref, dekWrapped);
    if (to < this.aadSchemeFloor(ref.tenant)) {
      dek.fill(0);
      throw new KeyUnwrapError();
    }
    try {
      const out: Record<string, Buffer | null> = {};
      for (const [name, ct] of Object.entries(fields)) {
        if (ct === null) {
          out[name] = null;
          continue;
        }
        const plain = this.openField(dek, ref, name, ct);
        try {
          out[name] = sealField(dek, ref, name, plain, to);
        } finally {
          plain.fill(0);
        }
      }
      return out;
    } finally {
      dek.fill(0);
    }
  }

  private openField(dek: Buffer, ref: RecordRef, field: string, ciphertext: Buffer): Buffer {
    const scheme = schemeOf(ciphertext);
    if (scheme < this.aadSchemeFloor(ref.tenant)) throw new KeyUnwrapError();
    return open(dek, blobOf(ciphertext, scheme), fieldAad(ref, field, scheme));
  }

  /** The oldest AAD scheme this process still opens for the tenant (as of its last key load or sync). */
  aadSchemeFloor(tenant: string): AadScheme {
    return this.aadFloor.get(tenant) ?? 1;
  }

  /** Refuses older AAD schemes for the tenant from now on (never lowers the floor). */
  raiseAadSchemeFloor(tenant: string, scheme: AadScheme): void {
    if (scheme > this.aadSchemeFloor(tenant)) this.aadFloor.set(tenant, scheme);
  }

  /** The TK version a wrapped DEK names (for rewrap jobs and version counts). */
  static versionOf(dekWrapped: Buffer): number {
    if (dekWrapped.length < 5 || dekWrapped[0] !== DEK_FORMAT) throw new KeyUnwrapError();
    return dekWrapped.readUInt32BE(1);
  }

  /**
   * Re-wraps a DEK under the tenant's active TK; field ciphertexts stay as they are (invariant 2).
   * A batch job passes the active TK it looked up once as `target`.
   */
  async rewrapDek(
    ref: DekRef,
    dekWrapped: Buffer,
    target?: { version: number; key: Buffer },
  ): Promise<{ tkVersion: number; dekWrapped: Buffer }> {
    const own = target ? undefined : await this.activeTenantKey(ref.tenant);
    const dek = await this.unwrapDek(ref, dekWrapped);
    try {
      const { version, key: tk } = target ?? own!;
      const header = Buffer.alloc(5);
      header[0] = DEK_FORMAT;
      header.writeUInt32BE(version, 1);
      return { tkVersion: version, dekWrapped: Buffer.concat([header, seal(live(tk), dek, dekAad(ref, version))]) };
    } finally {
      dek.fill(0);
      own?.key.fill(0);
    }
  }

  private async unwrapDek(ref: DekRef, dekWrapped: Buffer): Promise<Buffer> {
    const version = Keyring.versionOf(dekWrapped);
    const tk = await this.cachedKey(ref.tenant, version);
    return open(tk, dekWrapped.subarray(5), dekAad(ref, version));
  }

  /**
   * The tenant's active TK as a copy the caller owns (and should zero when done): a batch job
   * holds it across awaits, while the cache may evict and zero its own buffer at any time.
   */
  async activeTenantKey(tenant: TenantId): Promise<{ version: number; key: Buffer }> {
    const version = await this.activeVersion(tenant);
    return { version, key: Buffer.from(live(await this.cachedKey(tenant, version))) };
  }

  /** An unwrapped TK by version, as a copy the caller owns. */
  async tenantKey(tenant: TenantId, version: number): Promise<Buffer> {
    return Buffer.from(await this.cachedKey(tenant, version));
  }

  /** The active TK version, creating the first one on first use (or after crypto-shredding). */
  private async activeVersion(tenant: TenantId): Promise<number> {
    let row = await this.store.active(tenant);
    if (!row) {
      await this.ensureWritable();
      const tk = randomBytes(32);
      try {
        const version = await this.store.nextVersion(tenant);
        const wrapped = await this.provider.wrap(bind(tkContext(tenant, version), tk));
        await this.store.createFirst(tenant, version, wrapped.keyId, wrapped.wrapped);
      } finally {
        tk.fill(0);
      }
      row = await this.store.active(tenant);
      if (!row) throw new Error('tenant key creation failed');
    }
    return row.version;
  }

  /**
   * The cache's own buffer, loaded once (coalesced) from the provider on a miss. Use it before
   * the next await: an eviction zeroes it on a later tick.
   */
  private async cachedKey(tenant: TenantId, version: number): Promise<Buffer> {
    return this.cache.get(`${tenant}\u0000${version}`, async () => {
      const found = await this.store.byVersion(tenant, version);
      // Unknown, destroyed or retired versions are refused the same way as bad ciphertext (invariant 5).
      if (!found || found.key.status === 'destroyed' || version < found.minKeyVersion) throw new KeyUnwrapError();
      this.raiseAadSchemeFloor(tenant, found.aadScheme as AadScheme);
      const bound = await this.unwrapFromProvider(found.key.kekKeyId, found.key.wrapped);
      return unbind(tkContext(tenant, version), bound);
    });
  }

  private async unwrapFromProvider(keyId: string, wrapped: Buffer): Promise<Buffer> {
    if (!this.providerReady) throw new KeyProviderUnavailableError();
    try {
      const key = await this.provider.unwrap(keyId, wrapped);
      this.providerDown = false;
      return key;
    } catch (err) {
      this.noteFailure(err);
      throw err;
    }
  }

  /** New active TK version for a tenant; older versions stay decryptable until retired. */
  async rotateTenantKey(tenant: TenantId): Promise<number> {
    await this.ensureWritable();
    const next = (await this.store.latestVersion(tenant)) + 1;
    const tk = randomBytes(32);
    try {
      const wrapped = await this.provider.wrap(bind(tkContext(tenant, next), tk));
      const version = await this.store.addVersion(tenant, wrapped.keyId, wrapped.wrapped);
      if (version !== next) throw new DomainError('conflict', 'A concurrent tenant key rotation won; retry.');
      return version;
    } finally {
      tk.fill(0);
    }
  }

  /**
   * Retires every TK version below `minVersion`: refused while any row still uses one;
   * afterwards ciphertexts naming them are refused and their wrapped keys destroyed.
   */
  async retireBelow(tenant: TenantId, minVersion: number): Promise<number[]> {
    const destroyed = await this.ds.transaction(async (m) => {
      await this.store.lockTenant(m, tenant);
      const [{ n }] = await m.query(
        `SELECT ${SEALED_TABLES.map((t) => `(SELECT count(*) FROM ${t} WHERE tenant = $1 AND tk_version < $2)`).join(' + ')} AS n`,
        [tenant, minVersion],
      );
      if (Number(n) > 0) throw new DomainError('conflict', `${n} records still use a key version below ${minVersion}; rewrap them first.`);
      const active = (await this.store.activeVersion(tenant, m)) ?? 0;
      if (active < minVersion) throw new DomainError('conflict', 'The active tenant key cannot be retired; rotate first.');
      await this.store.raiseMinVersion(m, tenant, minVersion);
      return this.store.destroyBelow(m, tenant, minVersion);
    });
    this.cache.evictTenant(`${tenant}\u0000`);
    return destroyed;
  }

  /**
   * Crypto-shredding: destroys every TK version of a tenant (wrapped copies zeroed) and raises the
   * minimum decryption version past them, inside the caller's transaction so the records go with
   * them. Call `forgetTenantKeys` after commit. Returns the versions destroyed.
   */
  static async destroyTenantKeys(m: EntityManager, tenant: TenantId): Promise<number[]> {
    const store = new TenantKeyStore(m.connection);
    await store.lockTenant(m, tenant, { create: true });
    const destroyed = await store.destroyAll(m, tenant);
    await store.markShredded(m, tenant, (await store.latestVersion(tenant, m)) + 1);
    return destroyed;
  }

  /** Drops cached TKs of a tenant (one version, or all): after another process destroyed them. */
  forgetTenantKeys(tenant: string, version?: number): void {
    if (version === undefined) this.cache.evictTenant(`${tenant}\u0000`);
    else this.cache.evict(`${tenant}\u0000${version}`);
  }

  /**
   * Fail closed on writes (invariant 6) without a Key Vault request per write (SECURITY 48): a
   * provider known to be down (an actual failure, or the background probe) refuses the write; a
   * throttling one does not, since a write under a cached tenant key needs nothing from it.
   */
  async ensureWritable(): Promise<void> {
    if (!this.providerReady) throw new KeyProviderUnavailableError();
    if (this.opts.writeHealthTtlMs > 0) {
      if (this.providerDown) throw new KeyProviderUnavailableError();
      return;
    }
    try {
      await this.provider.health();
      this.providerDown = false;
    } catch (err) {
      this.noteFailure(err);
      throw err;
    }
  }

  /** Readiness: the provider's known state (with the probe), or a live health read (strict mode). */
  async checkProvider(): Promise<void> {
    if (!this.providerReady) throw new KeyProviderUnavailableError();
    if (this.opts.writeHealthTtlMs === 0) {
      await this.provider.health();
      this.providerDown = false;
      return;
    }
    if (this.providerDown) throw new KeyProviderUnavailableError();
  }

  /** Forgets any known-good state (e.g. after a provider error elsewhere). */
  markUnhealthy(): void {
    this.providerDown = true;
  }

  /** Boot: the provider's `init()` has not completed yet (Key Vault throttling or down); refuse what needs it. */
  markProviderStarting(): void {
    this.providerReady = false;
  }

  /** Boot: `init()` completed; the probe starts (unless strict). */
  markProviderReady(): void {
    this.providerReady = true;
    this.providerDown = false;
    this.startProbe();
  }

  /** Checks the provider every `writeHealthTtlMs` in the background; a throttle is not an outage. */
  startProbe(): void {
    if (this.probe || this.opts.writeHealthTtlMs <= 0) return;
    this.probe = setInterval(() => {
      this.provider.health().then(
        () => (this.providerDown = false),
        (err: unknown) => this.noteFailure(err),
      );
    }, this.opts.writeHealthTtlMs);
    this.probe.unref();
  }

  stopProbe(): void {
    clearInterval(this.probe);
    this.probe = undefined;
  }

  private noteFailure(err: unknown): void {
    if (err instanceof KeyProviderUnavailableError && !err.throttled) this.providerDown = true;
  }
}

function tkContext(tenant: string, version: number): Buffer {
  return context('tk', tenant, version);
}
function dekAad(ref: DekRef, version: number): Buffer {
  return context('dek', ref.tenant, ref.table, ref.id, version);
}
function sealField(dek: Buffer, ref: RecordRef, field: string, plaintext: Buffer, scheme: AadScheme): Buffer {
  return framed(seal(dek, plaintext, fieldAad(ref, field, scheme)), scheme);
}

/** Key Vault's RSA wrap has no AAD: the context's hash travels inside the wrapped plaintext. */
export function bind(ctx: Buffer, key: Buffer): Buffer {
  return Buffer.concat([createHash('sha256').update(ctx).digest(), key]);
}

export function unbind(ctx: Buffer, bound: Buffer): Buffer {
  const expected = createHash('sha256').update(ctx).digest();
  if (bound.length !== BIND + 32 || !timingSafeEqual(bound.subarray(0, BIND), expected)) {
    bound.fill(0);
    throw new KeyUnwrapError();
  }
  const key = Buffer.from(bound.subarray(BIND));
  bound.fill(0);
  return key;
}
