import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/**
 * The `pg` pool behind the DataSource: the same connections, `search_path`, timeouts and
 * `DeadlineClient`, without TypeORM's per-query runner. For the hot path only (one query per
 * release); errors are `pg`'s own (their `code` is what `isDatabaseUnavailable` reads).
 */
export function pgPool(ds: DataSource): Pool {
  const pool = (ds.driver as PostgresDriver).master as Pool | undefined;
  if (!pool) throw new Error('the DataSource is not initialised');
  return pool;
}
