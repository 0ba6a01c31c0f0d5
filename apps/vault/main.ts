import { ConfigError, loadConfig } from '../../libs/config';
import { startVault } from './bootstrap';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const vault = await startVault(config);
  const lines = [
    `Credential Vault listening on ${config.publicUrl} (bound to ${config.host}:${config.port})`,
    `  database: ${config.database.url ? 'DATABASE_URL' : `embedded PostgreSQL under ${config.dataDir}`}; key provider: ` +
      `${config.keyProvider.kind}`,
    `  ready:    curl ${config.publicUrl}/readyz`,
  ];
  if (config.devIssuer) {
    lines.push(`  admin token (development issuer): npm run cli -- dev-token --admin --tenant default`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  // SIGTERM: stop accepting, finish in-flight requests and audit batches, close the pool (RunningVault.close).
  // Past the timeout the process exits anyway, before an orchestrator's SIGKILL would.
  const stop = async () => {
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs).unref();
    await vault.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`credential vault failed to start: ${err.name}: ${err.message}\n`);
  process.exit(1);
});
