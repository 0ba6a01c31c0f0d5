import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { context, open, seal } from './aead';
import { KeyProvider, KeyProviderUnavailableError, KeyUnwrapError, WrappedKey } from './key-provider';

interface KekFile {
  current: string;
  versions: Array<{ version: string; key: string; created: string }>;
}

const PREFIX = 'local:kek/';

/**
 * KEK from a local file (development and the embedded default only: config refuses it
 * under NODE_ENV=production). Versions are kept so rotation works like Key Vault's.
 */
export class LocalKeyProvider implements KeyProvider {
  /** Never print key material, connection strings or caches, whoever logs this object. */
  [inspect.custom](): string {
    return `LocalKeyProvider(${this.current})`;
  }

  readonly kind = 'local' as const;
  private keys = new Map<string, Buffer>();
  private current = '';
  private currentCreated?: Date;
  /** Set when the KEK file could not be read or parsed at runtime: nothing wraps or unwraps. */
  private failed = false;

  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    let data: KekFile;
    try {
      data = parseKekFile(await readFile(this.file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyProviderUnavailableError();
      data = { current: '', versions: [] };
      await this.addVersion(data);
    }
    this.load(data);
  }

  /**
   * Swaps in a fully checked file or nothing. A file that became unreadable or corrupt makes the
   * provider unavailable (503 on release, like an unreachable Key Vault) rather than leaving
   * half a key map behind, whose misses would look like tampered ciphertexts.
   */
  private load(data: KekFile): void {
    const keys = new Map(data.versions.map((v) => [PREFIX + v.version, Buffer.from(v.key, 'base64')]));
    if (!keys.has(PREFIX + data.current)) throw new KeyProviderUnavailableError();
    this.keys = keys;
    this.current = PREFIX + data.current;
    this.failed = false;
    const created = data.versions.find((v) => v.version === data.current)?.created;
    this.currentCreated = created ? new Date(created) : undefined;
  }

  /** Reads the file; any failure marks the provider unavailable until a read succeeds. */
  private async reload(): Promise<KekFile> {
    try {
      return parseKekFile(await readFile(this.file, 'utf8'));
    } catch {
      this.failed = true;
      throw new KeyProviderUnavailableError();
    }
  }

  private async addVersion(data: KekFile): Promise<void> {
    const version = randomBytes(16).toString('hex');
    data.versions.push({ version, key: randomBytes(32).toString('base64'), created: new Date().toISOString() });
    data.current = version;
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(data, null, 2), { mode: 0o600 });
    await rename(tmp, this.file);
  }

  /** Adds a new KEK version and makes it current (the local analogue of Key Vault's rotate). */
  async rotate(): Promise<string> {
    const data = await this.reload();
    await this.addVersion(data);
    this.load(data);
    return this.current;
  }

  currentKeyId(): string {
    return this.current;
  }

  currentKeyCreatedAt(): Date | undefined {
    return this.currentCreated;
  }

  async wrap(plaintext: Buffer): Promise<WrappedKey> {
    const key = this.keys.get(this.current);
    if (!key || this.failed) throw new KeyProviderUnavailableError();
    return { keyId: this.current, wrapped: seal(key, plaintext, context('kek', this.current)) };
  }

  async unwrap(keyId: string, wrapped: Buffer): Promise<Buffer> {
    if (this.failed) throw new KeyProviderUnavailableError();
    const key = this.keys.get(keyId) ?? (await this.versionAddedElsewhere(keyId));
    if (!key) throw new KeyUnwrapError();
    return open(key, wrapped, context('kek', keyId));
  }

  /**
   * Another process on the same file (`keys rotate --target kek` in the CLI, a second replica) may
   * have added a KEK version and rewrapped keys under it since this one read the file. Without
   * this, its keys would count as not unwrapping (decrypt_failed, 500) until the next periodic refresh.
   */
  private async versionAddedElsewhere(keyId: string): Promise<Buffer | undefined> {
    if (!keyId.startsWith(PREFIX)) return undefined;
    await this.refresh();
    return this.keys.get(keyId);
  }

  async refresh(): Promise<string> {
    const data = await this.reload();
    try {
      this.load(data);
    } catch (err) {
      this.failed = true;
      throw err;
    }
    return this.current;
  }

  async health(): Promise<void> {
    if (this.failed || !this.keys.has(this.current)) throw new KeyProviderUnavailableError();
  }
}

/** The KEK file, checked: every version a 256-bit key, the current one among them. */
function parseKekFile(text: string): KekFile {
  const data = JSON.parse(text) as Partial<KekFile> | null;
  const versions = data?.versions;
  const ok =
    typeof data?.current === 'string' &&
    Array.isArray(versions) &&
    versions.every((v) => v && typeof v.version === 'string' && typeof v.key === 'string' && Buffer.from(v.key, 'base64').length === 32);
  if (!ok) throw new Error('KEK file is not in the expected format');
  return data as KekFile;
}
