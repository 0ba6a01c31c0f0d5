import { Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../libs/db';

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.connect(port, host);
  });
}

/**
 * Integration tests run on real PostgreSQL: the machine's server at 127.0.0.1:5432
 * when it is there, otherwise an embedded one started for the run.
 * Each test file then creates its own database (parallel-safe).
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  if (!process.env.TEST_FORCE_EMBEDDED && (await reachable('127.0.0.1', 5432))) {
    process.env.TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vault-test-pg-'));
  const db = await startEmbeddedPostgres(dir);
  process.env.TEST_DATABASE_URL = db.url;
  (globalThis as { __embeddedPg?: { stop(): Promise<void> } }).__embeddedPg = db;
}
