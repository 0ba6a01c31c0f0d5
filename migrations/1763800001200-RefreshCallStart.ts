import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Refresh under faults (issue 15). `refresh_call_started_at` is written by a lease holder just
 * before it calls the provider (and kept, earliest first, until the call's outcome is known): only
 * a row with it set may have had its refresh token rotated by a refresher that then vanished.
 * Claiming a row is not calling for it, so a successor that finds it unset refreshes normally; one
 * that finds it set retries within the provider's reuse grace window or flags the row.
 */
export class RefreshCallStart1763800001200 implements MigrationInterface {
  name = 'RefreshCallStart1763800001200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE connections ADD COLUMN refresh_call_started_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE connections DROP COLUMN refresh_call_started_at`);
  }
}
