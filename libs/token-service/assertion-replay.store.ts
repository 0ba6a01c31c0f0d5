import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { TenantId } from '../kernel';

const PURGE_EVERY_MS = 60_000;

/**
 * The `jti`s of accepted private_key_jwt assertions, in Postgres so that every replica sees
 * them, each kept until its assertion expires (RFC 7523 §3 item 7).
 */
@Injectable()
export class ClientAssertionReplayStore {
  private readonly log = new Logger('ClientAssertionReplayStore');
  private lastPurge = 0;

  constructor(private readonly ds: DataSource) {}

  /** Records a `jti`; false when it was used before (a replay). */
  async use(tenant: TenantId, clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    this.purgeNowAndThen();
    const rows = await this.ds.query(
      `INSERT INTO client_assertion_jtis (tenant, client_id, jti, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tenant, client_id, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
         WHERE client_assertion_jtis.expires_at < now()
       RETURNING 1`,
      [tenant, clientId, jti, expiresAt],
    );
    return rows.length === 1;
  }

  private purgeNowAndThen(): void {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    this.ds.query(`DELETE FROM client_assertion_jtis WHERE expires_at < now()`).catch((err: { name?: string }) => {
      this.log.warn(`purging expired assertion ids failed: ${err?.name ?? 'error'}`);
    });
  }
}
