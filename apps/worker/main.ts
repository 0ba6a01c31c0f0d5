import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigError, loadConfig } from '../../libs/config';
import { createDataSource, runMigrations } from '../../libs/db';
import { createVaultLogger, nestLogger } from '../../libs/observability';
import { serveWorkerMetrics } from './metrics-server';
import { WorkerModule } from './worker.module';

/**
 * The background worker: refreshes OAuth connections before they expire (leases, SKIP LOCKED) and leases key
 * jobs (KEK rewrap, tenant-key rotation) from Postgres,
 * schedules automatic rotations and destroys expired previous API keys. Any number may run;
 * SIGTERM gives the current job back, SIGKILL leaves it to be resumed once its lease expires.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (!config.database.url) throw new Error('the worker needs DATABASE_URL (the embedded default runs jobs in the API process)');
  const poolSize = config.keys.rewrapLanes + Math.min(config.refresh.concurrency, 16) + 3;
  const ds = createDataSource({
    url: config.database.url,
    schema: config.database.schema,
    poolSize,
    applicationName: 'credential-vault-worker',
  });
  await ds.initialize();
  await runMigrations(ds, config.database.schema);
  // Structured JSON logs with the API's redaction (libs/observability), one line per event.
  const logs = createVaultLogger({ level: config.logLevel, base: { service: 'credential-vault-worker' } });
  const app = await NestFactory.createApplicationContext(
    WorkerModule.forRoot(config, ds, { runJobs: true, background: true }, { run: true }),
    {
      logger: config.logLevel === 'silent' ? false : nestLogger(logs),
    },
  );
  app.enableShutdownHooks(['SIGINT', 'SIGTERM']);
  let metrics = '';
  if (config.workerMetricsPort !== undefined) {
    const served = await serveWorkerMetrics(app, config.workerMetricsPort, config.host, poolSize);
    process.once('SIGTERM', () => served.server.close());
    metrics = `; metrics on http://${config.host}:${served.port}/metrics`;
  }
  process.stdout.write(`credential vault worker started: refresh, key jobs, key scheduler${metrics}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `worker failed: ${err.name}: ${err.message}\n`);
  process.exit(err instanceof ConfigError ? 78 : 1);
});
