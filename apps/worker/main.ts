import 'reflect-metadata';
import { ConfigError, loadConfig } from '../../libs/config';
import { createKeyProvider } from '../../libs/crypto';
import { createDataSource, runMigrations } from '../../libs/db';

/**
 * The background worker. Until the refresh and rotation jobs land it starts, checks
 * that it can reach the database and the key provider, and idles with a heartbeat.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (!config.database.url) throw new Error('the worker needs DATABASE_URL (the embedded default runs jobs in the API process)');
  const ds = createDataSource({ url: config.database.url, schema: config.database.schema, poolSize: 4, applicationName: 'credential-vault-worker' });
  await ds.initialize();
  await runMigrations(ds, config.database.schema);
  const provider = createKeyProvider(config);
  await provider.init();
  process.stdout.write('credential vault worker started; no jobs scheduled yet\n');
  const heartbeat = setInterval(() => {
    ds.query('SELECT 1').catch(() => process.stderr.write('worker: database unreachable\n'));
  }, 30_000);
  const stop = async () => {
    clearInterval(heartbeat);
    await ds.destroy();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `worker failed: ${err.name}: ${err.message}\n`);
  process.exit(1);
});
