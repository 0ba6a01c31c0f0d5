import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 15: when the stored access token was issued, so that the release path refreshes ahead by a
 * share of the token's own lifetime (min(60 s, 25 %)) rather than a fixed minute, which refreshed
 * 20–40 s tokens on nearly every release. Unknown (NULL) for rows written before: the fixed minute.
 */
export class TokenIssuedAt1763800001201 implements MigrationInterface {
  name = 'TokenIssuedAt1763800001201';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE connections ADD COLUMN token_issued_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE connections DROP COLUMN token_issued_at`);
  }
}
