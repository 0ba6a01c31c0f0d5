import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { open } from 'node:fs/promises';
import { DataSource } from 'typeorm';
import { chainHead } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { AUDIT_SIGNER, AuditSigner } from '../crypto';
import { enqueueAuditAnchor } from '../webhooks';
import { anchorPayload, AuditAnchor } from './anchor';
import { anchorStore } from './anchor-store';

export const AUDIT_ANCHOR_OPTIONS = Symbol('AUDIT_ANCHOR_OPTIONS');
const GENESIS = '0'.repeat(64);

/**
 * Every `AUDIT_ANCHOR_INTERVAL_SECONDS` and once more on shutdown, signs the chain head
 * `{seq, hash, at, vault}` with the key provider's audit key and sends the anchor outside the
 * database: a JSON log line (`msg: "audit anchor"`), `AUDIT_ANCHOR_FILE` (appended, fsync'd) when
 * set, and the `audit.anchor` webhook to operators' endpoints; a copy goes into `audit_anchors`.
 * Each outlet is tried whatever the others did: one failing must not silence the rest.
 */
@Injectable()
export class AuditAnchorJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('AuditAnchors');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly ds: DataSource,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(AUDIT_SIGNER) private readonly signer: AuditSigner | null,
    @Inject(AUDIT_ANCHOR_OPTIONS) private readonly opts: { run: boolean },
  ) {}

  onApplicationBootstrap(): void {
    if (!this.opts.run) return;
    if (!this.signer) {
      this.log.warn('audit anchors are off: KEY_PROVIDER=azure needs AZURE_KEYVAULT_AUDIT_KEY_NAME (an EC or RSA key allowed to sign)');
      return;
    }
    // Fire-and-forget on a timer: tick() never rejects (a failed anchor is logged by name there).
    this.timer = setInterval(() => void this.tick(), this.config.auditAnchors.intervalMs);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    while (this.running) await this.running;
    await this.tick();
  }

  /** Signs and emits one anchor of the current head. Throws only if it could not be signed. */
  async anchor(): Promise<AuditAnchor> {
    if (!this.signer) throw new Error('no audit signing key is configured');
    await this.signer.init();
    const head = await chainHead(this.ds);
    const signed = {
      seq: head?.seq ?? '0',
      hash: head ? head.hash.toString('hex') : GENESIS,
      at: new Date().toISOString(),
      vault: this.config.publicUrl,
    };
    const { alg, kid, sig } = await this.signer.sign(anchorPayload(signed));
    const anchor: AuditAnchor = { ...signed, alg, kid, sig: sig.toString('base64url') };
    this.log.log({ anchor }, 'audit anchor');
    await Promise.all([this.toFile(anchor), this.toDatabase(anchor)]);
    return anchor;
  }

  /** One anchor at a time: a tick that finds the previous one still signing (Key Vault slow) is skipped. */
  private async tick(): Promise<void> {
    if (this.running) return;
    const run = this.anchor().then(
      () => undefined,
      (err: unknown) => this.log.error(`audit anchor not signed (${err instanceof Error ? err.name : 'error'})`),
    );
    this.running = run;
    try {
      await run;
    } finally {
      this.running = undefined;
    }
  }

  private async toFile(anchor: AuditAnchor): Promise<void> {
    const file = this.config.auditAnchors.file;
    if (!file) return;
    try {
      // O_APPEND: whole lines at the end whatever else writes the file; fsync before we call it kept.
      const fh = await open(file, 'a', 0o640);
      try {
        await fh.appendFile(`${JSON.stringify(anchor)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      this.log.error(`audit anchor not written to AUDIT_ANCHOR_FILE (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }

  private async toDatabase(anchor: AuditAnchor): Promise<void> {
    try {
      await this.ds.transaction(async (m) => {
        await anchorStore.insert(m, anchor);
        await enqueueAuditAnchor(m, { ...anchor });
      });
    } catch (err) {
      this.log.error(`audit anchor not stored or queued for webhooks (${err instanceof Error ? err.name : 'error'})`);
    }
  }
}
