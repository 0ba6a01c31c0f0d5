import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DpopReplayStore } from '../auth';

const PURGE_EVERY_MS = 60_000;
const MAX_BATCH = 500;

interface Pending {
  key: string;
  jkt: string;
  jti: string;
  expiresAt: Date;
  done(fresh: boolean): void;
  failed(err: unknown): void;
}

/**
 * DPoP proof `jti`s in Postgres (per key thumbprint), so that a proof replayed to another
 * replica within its `iat` window is refused there too (RFC 9449 §11.1); each kept until the
 * proof would be too old anyway. The proofs of concurrent releases are recorded together, one
 * statement per event-loop turn (like the audit log's group commit), in an `UNLOGGED` table.
 */
@Injectable()
export class PostgresDpopReplayStore implements DpopReplayStore {
  private readonly log = new Logger('PostgresDpopReplayStore');
  private lastPurge = 0;
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly ds: DataSource) {}

  use(jkt: string, jti: string, expiresAt: Date): Promise<boolean> {
    this.purgeNowAndThen();
    return new Promise((done, failed) => {
      this.pending.push({ key: `${jkt}.${jti}`, jkt, jti, expiresAt, done, failed });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush()); // flush settles every waiter itself
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending.splice(0, MAX_BATCH);
    if (this.pending.length && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
    // The same proof twice in one batch (the verifier's memory normally stops that first): the second is a replay.
    const firsts = new Map<string, Pending>();
    for (const p of batch) if (!firsts.has(p.key)) firsts.set(p.key, p);
    const rows = [...firsts.values()];
    try {
      const fresh: Array<{ jkt: string; jti: string }> = await this.ds.query(
        `INSERT INTO dpop_proof_jtis (jkt, jti, expires_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
         ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE dpop_proof_jtis.expires_at < now()
         RETURNING jkt, jti`,
        [rows.map((r) => r.jkt), rows.map((r) => r.jti), rows.map((r) => r.expiresAt)],
      );
      const accepted = new Set(fresh.map((r) => `${r.jkt}.${r.jti}`));
      for (const p of batch) p.done(firsts.get(p.key) === p && accepted.has(p.key));
    } catch (err) {
      for (const p of batch) p.failed(err);
    }
  }

  private purgeNowAndThen(): void {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    this.ds.query(`DELETE FROM dpop_proof_jtis WHERE expires_at < now()`).catch((err: { name?: string }) => {
      this.log.warn(`purging expired DPoP proof ids failed: ${err?.name ?? 'error'}`);
    });
  }
}
