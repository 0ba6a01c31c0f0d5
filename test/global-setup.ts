import { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../libs/db';

/** What global-teardown finds on globalThis: the embedded cluster and its folder. */
export interface EmbeddedRun {
  stop(): Promise<void>;
  dir: string;
}

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
  let db: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  try {
    db = await startEmbeddedPostgres(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  process.env.TEST_DATABASE_URL = db.url;
  // The cluster (~56 MB) goes with the run: global-teardown stops it and removes `dir`.
  (globalThis as { __embeddedPg?: EmbeddedRun }).__embeddedPg = { stop: () => db.stop(), dir };
}
