export { createDataSource, runMigrations } from './data-source';
export type { DatabaseOptions } from './data-source';
export { startEmbeddedPostgres } from './embedded-postgres';
export type { EmbeddedDatabase } from './embedded-postgres';
export { DbModule } from './db.module';
export { isDatabaseUnavailable, withDatabase } from './database-errors';
export { ensureTenant } from './tenants';
export { DeadlineClient } from './deadline-client';
export { pgPool } from './pg-pool';
