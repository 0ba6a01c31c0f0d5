import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AUDIT_MAC_KEY, AuditMacKeySource } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { AUDIT_SIGNER, AuditSigner } from '../crypto';
import { anchorStore } from './anchor-store';
import { AnchoredVerifyReport, verifyWithAnchors } from './verify-with-anchors';

/** Anchors the admin check reads back from the database (the newest ones). */
const STORED_ANCHORS = 10000;
/** How long a verification result serves the dashboard before it is run again. */
const DASHBOARD_REUSE_MS = 60_000;

export interface AuditVerifyView extends AnchoredVerifyReport {
  verifiedAt: string;
  /** The newest anchor the chain proved, and how old it is. */
  lastVerifiedAnchor?: { seq: string; at: string; ageSeconds: number };
}

/**
 * `GET /v1/admin/audit/verify` and the dashboard: the whole chain against the anchors this vault has
 * stored, each signature checked with the key provider's public key. The stored copies are a
 * convenience; the proof is `audit verify --anchors` against anchors kept outside.
 */
@Injectable()
export class AuditVerifyService {
  private last?: { at: number; view: AuditVerifyView };

  constructor(
    private readonly ds: DataSource,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    @Inject(AUDIT_SIGNER) private readonly signer: AuditSigner | null,
    @Inject(AUDIT_MAC_KEY) private readonly mac: AuditMacKeySource,
  ) {}

  async verify(now = new Date()): Promise<AuditVerifyView> {
    const anchors = await anchorStore.recent(this.ds, STORED_ANCHORS);
    const signer = this.signer;
    if (signer) await signer.init();
    const report = await verifyWithAnchors(this.ds, await this.mac.macKey(), anchors, {
      vault: this.config.publicUrl,
      publicKey: async (kid) => signer?.publicKey(kid),
    });
    const newest = report.newestAnchor;
    const view: AuditVerifyView = {
      ...report,
      verifiedAt: now.toISOString(),
      ...(report.ok && newest
        ? {
            lastVerifiedAnchor: {
              seq: newest.seq,
              at: newest.at,
              ageSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(newest.at)) / 1000)),
            },
          }
        : {}),
    };
    this.last = { at: now.getTime(), view };
    return view;
  }

  /** The last result if recent enough (the dashboard must not walk the chain on every view). */
  async recent(now = new Date()): Promise<AuditVerifyView> {
    if (this.last && now.getTime() - this.last.at < DASHBOARD_REUSE_MS) return this.last.view;
    return this.verify(now);
  }
}
