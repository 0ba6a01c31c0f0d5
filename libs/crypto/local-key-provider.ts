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

  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    let data: KekFile;
    try {
      data = JSON.parse(await readFile(this.file, 'utf8')) as KekFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyProviderUnavailableError();
      data = { current: '', versions: [] };
      await this.addVersion(data);
    }
    this.load(data);
  }

  private load(data: KekFile): void {
    this.keys = new Map(data.versions.map((v) => [PREFIX + v.version, Buffer.from(v.key, 'base64')]));
    this.current = PREFIX + data.current;
    if (!this.keys.has(this.current)) throw new KeyProviderUnavailableError();
    const created = data.versions.find((v) => v.version === data.current)?.created;
    this.currentCreated = created ? new Date(created) : undefined;
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
    const data = JSON.parse(await readFile(this.file, 'utf8')) as KekFile;
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
    if (!key) throw new KeyProviderUnavailableError();
    return { keyId: this.current, wrapped: seal(key, plaintext, context('kek', this.current)) };
  }

  async unwrap(keyId: string, wrapped: Buffer): Promise<Buffer> {
    const key = this.keys.get(keyId);
    if (!key) throw new KeyUnwrapError();
    return open(key, wrapped, context('kek', keyId));
  }

  async refresh(): Promise<string> {
    this.load(JSON.parse(await readFile(this.file, 'utf8')) as KekFile);
    return this.current;
  }

  async health(): Promise<void> {
    if (!this.keys.has(this.current)) throw new KeyProviderUnavailableError();
  }
}
