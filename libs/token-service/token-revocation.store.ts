import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export type CutoffKind = 'agent' | 'subject';

/**
 * One revocation as `ALL` reads it and as a notification carries it (migration 2200 sends the same
 * shape): the row type of `token_revocations` (`k` = 'jti') and `token_cutoffs` (`k` = the cutoff's kind).
 */
export interface RevocationEntry {
  k: 'jti' | CutoffKind;
  t: string;
  n: string;
  /** jti: the token's `exp`; cutoff: the instant, both in seconds. */
  at: number;
}

const ALL = `SELECT 'jti' AS k, tenant AS t, jti AS n, floor(extract(epoch FROM expires_at))::float8 AS at
    FROM token_revocations WHERE expires_at > now()
  UNION ALL SELECT kind, tenant, name, floor(extract(epoch FROM cutoff))::float8 FROM token_cutoffs`;

/** SQL of `token_revocations` (single tokens, until they expire) and `token_cutoffs` (every token up to an instant). */
@Injectable()
export class TokenRevocationStore {
  constructor(private readonly ds: DataSource) {}

  /** Every revocation still in force. */
  async all(): Promise<RevocationEntry[]> {
    return this.ds.query(ALL);
  }

  /** Revokes one token (`expiresAt`: its `exp`, in seconds); revoking it again changes nothing. */
  async revokeToken(tenant: string, jti: string, expiresAt: number): Promise<RevocationEntry> {
    await this.ds.query(
      `INSERT INTO token_revocations (tenant, jti, expires_at) VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING`,
      [tenant, jti, expiresAt],
    );
    return { k: 'jti', t: tenant, n: jti, at: expiresAt };
  }

  /**
   * Deletes single-token revocations whose token expired over an hour ago (its `exp` refuses it now;
   * the hour covers verifiers' clock leeway). Cutoffs stay: they are one row per agent or user.
   * A delete notifies '*', so every process reloads once (none when nothing was deleted).
   */
  async pruneExpired(): Promise<number> {
    const [, n] = (await this.ds.query(`DELETE FROM token_revocations WHERE expires_at < now() - interval '1 hour'`)) as [unknown, number];
    return n;
  }

  /** Every token of the agent or user issued up to now (a cutoff never moves back); answers the cutoff in force. */
  async cutOff(tenant: string, kind: CutoffKind, name: string): Promise<RevocationEntry> {
    const [row]: Array<{ at: number }> = await this.ds.query(
      `INSERT INTO token_cutoffs (tenant, kind, name, cutoff) VALUES ($1, $2, $3, now())
       ON CONFLICT (tenant, kind, name) DO UPDATE SET cutoff = GREATEST(token_cutoffs.cutoff, EXCLUDED.cutoff)
       RETURNING floor(extract(epoch FROM cutoff))::float8 AS at`,
      [tenant, kind, name],
    );
    return { k: kind, t: tenant, n: name, at: row.at };
  }
}
