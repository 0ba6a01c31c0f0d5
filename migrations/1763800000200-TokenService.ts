import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The token service (RFC 8693): its signing keys, the `jti`s of client assertions it has
 * accepted (replay protection), and a second, expiring client-secret hash per agent so a
 * secret can be rotated with an overlap.
 */
export class TokenService1763800000200 implements MigrationInterface {
  name = 'TokenService1763800000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      -- ES256 keys the vault signs exchanged tokens with. The private key (PKCS#8) is sealed
      -- with AES-256-GCM under the system key 'token-signing' (itself wrapped by the KEK), with
      -- AAD binding it to its kid and alg. 'active' signs; 'previous' is published for
      -- verification only (its private key is wiped on demotion); 'retired' is no longer published.
      CREATE TABLE signing_keys (
        kid text PRIMARY KEY,
        alg text NOT NULL CHECK (alg IN ('ES256')),
        public_jwk jsonb NOT NULL,
        private_key_sealed bytea NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'previous', 'retired')),
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz
      );
      CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

      -- private_key_jwt assertions already used (RFC 7523 jti), kept until they expire.
      CREATE TABLE client_assertion_jtis (
        tenant text NOT NULL,
        client_id text NOT NULL,
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (tenant, client_id, jti)
      );
      CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);

      -- Secret rotation with overlap: the previous secret keeps working until it expires.
      ALTER TABLE agents ADD COLUMN previous_secret_hash text, ADD COLUMN previous_secret_expires_at timestamptz;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE agents DROP COLUMN previous_secret_expires_at, DROP COLUMN previous_secret_hash;
      DROP TABLE client_assertion_jtis;
      DROP TABLE signing_keys;
    `);
  }
}
