import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { createDataSource, runMigrations } from '../../libs/db';

export interface TestDatabase {
  /** Connection string of the fresh database. */
  url: string;
  /** A migrated DataSource on it (schema `vault`). */
  ds: DataSource;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run through the integration jest project');
  return url;
}

/** Creates a uniquely named database, migrated, for one test file. */
export async function createTestDatabase(opts: { migrate?: boolean; poolSize?: number } = {}): Promise<TestDatabase> {
  const name = `vault_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  const url = u.toString();
  const ds = createDataSource({ url, schema: 'vault', poolSize: opts.poolSize ?? 10 });
  await ds.initialize();
  if (opts.migrate !== false) await runMigrations(ds, 'vault');
  return {
    url,
    ds,
    async drop() {
      if (ds.isInitialized) await ds.destroy();
      const c = new Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
