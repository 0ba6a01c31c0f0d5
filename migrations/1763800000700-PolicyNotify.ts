import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Release-path caching (issue 7). Every process keeps the tenants' agents and policies in memory
 * (libs/policy PolicySnapshots); any write to agents, policies or integrations, by any process or
 * by hand, notifies `vault_policy_changed` with the tenant (TRUNCATE: '*'), delivered on commit,
 * and the listeners drop that tenant's snapshot.
 */
export class PolicyNotify1763800000700 implements MigrationInterface {
  name = 'PolicyNotify1763800000700';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION policy_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'TRUNCATE' THEN PERFORM pg_notify('vault_policy_changed', '*'); RETURN NULL; END IF;
          -- Identical notifications in one transaction are delivered once.
          IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM pg_notify('vault_policy_changed', OLD.tenant); END IF;
          IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM pg_notify('vault_policy_changed', NEW.tenant); END IF;
          RETURN NULL;
        END $$;
      CREATE TRIGGER policies_changed AFTER INSERT OR UPDATE OR DELETE ON policies FOR EACH ROW EXECUTE FUNCTION policy_changed_notify();
      CREATE TRIGGER agents_changed AFTER INSERT OR UPDATE OR DELETE ON agents FOR EACH ROW EXECUTE FUNCTION policy_changed_notify();
      CREATE TRIGGER integrations_changed AFTER INSERT OR UPDATE OR DELETE ON integrations FOR EACH ROW
        EXECUTE FUNCTION policy_changed_notify();
      CREATE TRIGGER policies_truncated AFTER TRUNCATE ON policies FOR EACH STATEMENT EXECUTE FUNCTION policy_changed_notify();
      CREATE TRIGGER agents_truncated AFTER TRUNCATE ON agents FOR EACH STATEMENT EXECUTE FUNCTION policy_changed_notify();
      CREATE TRIGGER integrations_truncated AFTER TRUNCATE ON integrations FOR EACH STATEMENT EXECUTE FUNCTION policy_changed_notify();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER integrations_truncated ON integrations; DROP TRIGGER agents_truncated ON agents;
      DROP TRIGGER policies_truncated ON policies;
      DROP TRIGGER integrations_changed ON integrations; DROP TRIGGER agents_changed ON agents; DROP TRIGGER policies_changed ON policies;
      DROP FUNCTION policy_changed_notify();
    `);
  }
}
