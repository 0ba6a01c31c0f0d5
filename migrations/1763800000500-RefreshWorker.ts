import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Background refresh (issue 4). `refresh_failures` counts a streak of transient failures (the
 * backoff's exponent; reset by a successful refresh). `interrupted_owner` names the refresher
 * whose lease expired mid-refresh when its successor flagged the row `refresh_indeterminate`:
 * only that refresher, should it come back with the provider's answer, may still commit it.
 */
export class RefreshWorker1763800000500 implements MigrationInterface {
  name = 'RefreshWorker1763800000500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE connections ADD COLUMN refresh_failures integer NOT NULL DEFAULT 0,
                              ADD COLUMN interrupted_owner text;
      -- Due rows in time order, only those the worker may claim (the claim also skips leased rows).
      DROP INDEX connections_refresh_due;
      CREATE INDEX connections_refresh_due ON connections (next_refresh_at) WHERE kind = 'oauth2' AND status = 'active'
        AND next_refresh_at IS NOT NULL;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX connections_refresh_due;
      CREATE INDEX connections_refresh_due ON connections (next_refresh_at) WHERE kind = 'oauth2' AND status = 'active';
      ALTER TABLE connections DROP COLUMN interrupted_owner, DROP COLUMN refresh_failures;
    `);
  }
}
