import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { inspect } from 'node:util';
import { AnchorAlgorithm, AuditSigner } from './audit-signer';
import { KeyProviderUnavailableError } from './key-provider';

/** The anchor-signing key of the `local` provider, beside the KEK file. */
export function localAuditKeyFile(kekFile: string): string {
  return join(dirname(kekFile), 'audit-signing-key.pem');
}

/**
 * An EC P-256 key in a PEM file (created on first use, mode 0600) signing ES256. Its key id is
 * `local:audit/<thumbprint>` so that a verifier can tell which key an anchor names.
 */
export class LocalAuditSigner implements AuditSigner {
  [inspect.custom](): string {
    return `LocalAuditSigner(${this.kid})`;
  }

  readonly kind = 'local' as const;
  private privateKey?: KeyObject;
  private kid = '';
  private pub?: KeyObject;

  constructor(private readonly file: string) {}

  private ready?: Promise<void>;

  /** Idempotent: the key is loaded once (a failed load is tried again on the next call). */
  init(): Promise<void> {
    this.ready ??= this.load().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async load(): Promise<void> {
    let pem: string;
    try {
      pem = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyProviderUnavailableError();
      pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, pem, { mode: 0o600 });
      // link, not rename: a process that lost the race to create the key uses the winner's.
      await link(tmp, this.file).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
      await unlink(tmp);
      pem = await readFile(this.file, 'utf8');
    }
    this.privateKey = createPrivateKey(pem);
    this.pub = createPublicKey(this.privateKey);
    this.kid = localAuditKid(this.pub);
  }

  async sign(data: Buffer): Promise<{ alg: AnchorAlgorithm; kid: string; sig: Buffer }> {
    if (!this.privateKey) throw new Error('LocalAuditSigner.init() has not completed');
    return { alg: 'ES256', kid: this.kid, sig: sign('sha256', data, { key: this.privateKey, dsaEncoding: 'ieee-p1363' }) };
  }

  async publicKey(kid: string): Promise<KeyObject | undefined> {
    return kid === this.kid ? this.pub : undefined;
  }
}

/** `local:audit/` and the first 16 bytes of the SHA-256 of the public key (SPKI DER), hex. */
export function localAuditKid(pub: KeyObject): string {
  return `local:audit/${createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 32)}`;
}
