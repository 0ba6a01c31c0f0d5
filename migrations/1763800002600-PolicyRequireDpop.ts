import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Policies that require DPoP (issue 18 §5, "or policies requiring it"): an allow with
 * `require_dpop` lets the token endpoint issue only sender-constrained tokens (`cnf.jkt`) for
 * what it decides. False for every existing policy, so nothing changes until an admin sets it.
 */
export class PolicyRequireDpop1763800002600 implements MigrationInterface {
  name = 'PolicyRequireDpop1763800002600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE policies ADD COLUMN require_dpop boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE policies DROP COLUMN require_dpop`);
  }
}
