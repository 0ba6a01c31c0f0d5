import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 18 sections 1 and 3: an agent's federated identity credentials (Entra-style: issuer +
 * subject + audiences + exact claim matches; a matching assertion authenticates the agent with
 * no secret stored), the extra audiences its users' tokens may carry at exchange (an MCP
 * server's own audience), and a switch that turns the agent off without deleting it.
 * The GIN index serves the lookup by issuer and subject (`@>`) at client authentication.
 */
export class AgentIdentity1763800002100 implements MigrationInterface {
  name = 'AgentIdentity1763800002100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents ADD COLUMN federated_credentials jsonb NOT NULL DEFAULT '[]'::jsonb,
      ADD COLUMN accepted_audiences jsonb NOT NULL DEFAULT '[]'::jsonb,
      ADD COLUMN disabled boolean NOT NULL DEFAULT false`);
    await q.query(`CREATE INDEX agents_federated_credentials ON agents USING gin (federated_credentials jsonb_path_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX agents_federated_credentials`);
    await q.query(`ALTER TABLE agents DROP COLUMN disabled, DROP COLUMN accepted_audiences, DROP COLUMN federated_credentials`);
  }
}
