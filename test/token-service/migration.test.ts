import { createHash } from 'node:crypto';
import { Initial1763800000000 } from '../../migrations/1763800000000-Initial';
import { TokenService1763800000200 } from '../../migrations/1763800000200-TokenService';
import { PgNotifications } from '../../libs/db';
import { asTenantId, Secret } from '../../libs/kernel';
import { AgentStore, PolicyChangeFeed } from '../../libs/policy';
import { PolicySnapshots } from '../../libs/policy/policy-snapshots';
import { createTestDatabase, TestDatabase } from '../support/database';

/** STYLE.md 8: the token-service migration applies on the previous schema with data, and reverts. */
describe('migration 1763800000200-TokenService', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db?.drop());

  it('applies over the initial schema with agents in it, keeps them working, and goes down and up again', async () => {
    const q = db.ds.createQueryRunner();
    try {
      await q.query(`CREATE SCHEMA IF NOT EXISTS vault`);
      await new Initial1763800000000().up(q);
      const hash = createHash('sha256').update('s3cret', 'utf8').digest('hex');
      await q.query(`INSERT INTO tenants (id) VALUES ('acme')`);
      await q.query(
        `INSERT INTO agents (tenant, client_id, name, auth_method, secret_hash) VALUES ('acme', 'mcp-1', 'MCP', 'client_secret_basic', $1)`,
        [hash],
      );

      const migration = new TokenService1763800000200();
      await migration.up(q);
      const agents = new AgentStore(db.ds, new PolicySnapshots(db.ds, new PolicyChangeFeed(new PgNotifications(db.ds))));
      expect(await agents.verifySecret(asTenantId('acme'), 'mcp-1', Secret.of('s3cret'))).toBe(true);
      // Read directly: AgentStore.find also reads columns of later migrations (1763800002100-AgentIdentity).
      expect(await q.query(`SELECT client_id, auth_method FROM agents WHERE tenant = 'acme'`)).toEqual([
        { client_id: 'mcp-1', auth_method: 'client_secret_basic' },
      ]);
      const [row] = await q.query(`SELECT previous_secret_hash, previous_secret_expires_at FROM agents WHERE client_id = 'mcp-1'`);
      expect(row).toEqual({ previous_secret_hash: null, previous_secret_expires_at: null });
      await expect(
        q.query(
          `INSERT INTO signing_keys (kid, alg, public_jwk, private_key_sealed, status) VALUES ('a', ` +
            `'ES256', '{}', '\\x', 'active'), ('b', 'ES256', '{}', '\\x', 'active')`,
        ),
      ).rejects.toThrow();

      await migration.down(q);
      expect(await q.query(`SELECT to_regclass('signing_keys') AS t`)).toEqual([{ t: null }]);
      await migration.up(q);
      expect(await agents.verifySecret(asTenantId('acme'), 'mcp-1', Secret.of('s3cret'))).toBe(true);
    } finally {
      await q.release();
    }
  });
});
