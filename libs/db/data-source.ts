import { DataSource } from 'typeorm';
import { migrations } from '../../migrations';
import { DeadlineClient } from './deadline-client';

/** Server-side bound on every statement. */
const STATEMENT_TIMEOUT_MS = 10000;
/**
 * Client-side bound on waiting for an answer: a statement the server cancels answers at
 * STATEMENT_TIMEOUT_MS; only a hung server or network gets this far (the connection is then dropped).
 */
const QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 2000;

export interface DatabaseOptions {
  url: string;
  schema: string;
  poolSize: number;
  applicationName?: string;
}

/**
 * The one DataSource factory. `synchronize` is off: the schema is what the reviewed
 * migrations say. The search_path pins every unqualified name to the vault's schema.
 */
export function createDataSource(opts: DatabaseOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: opts.url,
    schema: opts.schema,
    synchronize: false,
    migrationsRun: false,
    migrations,
    migrationsTableName: 'migrations',
    entities: [],
    logging: false,
    extra: {
      max: opts.poolSize,
      options: `-c search_path=${opts.schema}`,
      application_name: opts.applicationName ?? 'credential-vault',
      connectionTimeoutMillis: 5000,
      // A statement that hangs must not hold a release forever; nor may a database that stops answering.
      statement_timeout: STATEMENT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      Client: DeadlineClient,
      idle_in_transaction_session_timeout: 30000,
    },
  });
}

/** Advisory lock key for migrations ("credvault" as a stable 32-bit number). */
const MIGRATION_LOCK = 0x63726564;

/**
 * Runs pending migrations under a Postgres advisory lock so that replicas starting
 * together apply them exactly once. The schema is created first if missing.
 */
export async function runMigrations(ds: DataSource, schema: string): Promise<string[]> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await runner.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    const applied = await ds.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}
