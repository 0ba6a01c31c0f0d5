import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 19 §1 × issue 17: a CIBA request may ask for scopes of one of the tenant's resources
 * (RFC 8707) instead of `connections:<integration>` scopes. `resource` is that resource's identifier;
 * NULL for the connection requests that existed before.
 */
export class ApprovalResource1763800002700 implements MigrationInterface {
  name = 'ApprovalResource1763800002700';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE approvals ADD COLUMN resource text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE approvals DROP COLUMN resource`);
  }
}
