import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Connect sessions hold a sealed PKCE verifier between Connect and the callback, so they get what
 * the other sealed tables have (1763800000100): the `key_version_guard` trigger (a verifier sealed
 * under a tenant key retired meanwhile fails with VK001 and is sealed again, instead of being
 * stored unreadable), and the `(tenant, tk_version, id)` index the DEK rewrap pages through. Only
 * sessions mid-flow carry a version, hence the partial index. The subject index gains the
 * integration and creation time: the release path counts the links it offered per user and
 * integration (bounded, see `ConnectSessionService.linkFor`).
 */
export class ConnectHardening1763800000400 implements MigrationInterface {
  name = 'ConnectHardening1763800000400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TRIGGER connect_sessions_key_version_guard BEFORE INSERT OR UPDATE OF tk_version ON connect_sessions
        FOR EACH ROW EXECUTE FUNCTION key_version_guard();
      CREATE INDEX connect_sessions_tk_version ON connect_sessions (tenant, tk_version, id) WHERE tk_version IS NOT NULL;
      DROP INDEX connect_sessions_subject;
      CREATE INDEX connect_sessions_subject ON connect_sessions (tenant, subject, integration, created_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX connect_sessions_subject;
      CREATE INDEX connect_sessions_subject ON connect_sessions (tenant, subject);
      DROP INDEX connect_sessions_tk_version;
      DROP TRIGGER connect_sessions_key_version_guard ON connect_sessions;
    `);
  }
}
