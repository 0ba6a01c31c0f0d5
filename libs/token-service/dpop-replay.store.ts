import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DpopReplayStore } from '../auth';

const PURGE_EVERY_MS = 60_000;

/**
 * DPoP proof `jti`s in Postgres (per key thumbprint), so that a proof replayed to another
 * replica within its `iat` window is refused there too (RFC 9449 §11.1). One insert per proof;
 * each kept until the proof would be too old anyway.
 */
@Injectable()
export class PostgresDpopReplayStore implements DpopReplayStore {
  private readonly log = new Logger('PostgresDpopReplayStore');
  private lastPurge = 0;

  constructor(private readonly ds: DataSource) {}

  async use(jkt: string, jti: string, expiresAt: Date): Promise<boolean> {
    this.purgeNowAndThen();
    const rows: unknown[] = await this.ds.query(
      `INSERT INTO dpop_proof_jtis (jkt, jti, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE dpop_proof_jtis.expires_at < now()
       RETURNING 1`,
      [jkt, jti, expiresAt],
    );
    return rows.length === 1;
  }

  private purgeNowAndThen(): void {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    this.ds.query(`DELETE FROM dpop_proof_jtis WHERE expires_at < now()`).catch((err: { name?: string }) => {
      this.log.warn(`purging expired DPoP proof ids failed: ${err?.name ?? 'error'}`);
    });
  }
}
