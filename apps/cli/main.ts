import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { loadDevIssuer } from '../../libs/auth';
import { ConfigError, loadConfig, VaultConfig } from '../../libs/config';
import { createDataSource, runMigrations, startEmbeddedPostgres } from '../../libs/db';
import { AUDIT_USAGE, runAuditRetain, runAuditVerify } from './audit-commands';
import { KEYS_USAGE, runKeysCommand } from './keys-commands';

const USAGE = `usage: npm run cli -- <command>
  dev-token [--admin] [--tenant T] [--sub USER] [--agent CLIENT_ID] [--scope "a b"] [--ttl SECONDS]
                 mint a token from the development issuer (embedded default only)
${AUDIT_USAGE}
  migrate        apply pending migrations and exit
${KEYS_USAGE}`;

/** Exit codes scripts can rely on. */
const EXIT = { ok: 0, failure: 1, tampered: 2, usage: 64, config: 78 } as const;

async function withDatabase<T>(config: VaultConfig, fn: (ds: ReturnType<typeof createDataSource>) => Promise<T>): Promise<T> {
  const embedded = config.database.url ? undefined : await startEmbeddedPostgres(config.dataDir);
  const ds = createDataSource({ url: config.database.url ?? embedded!.url, schema: config.database.schema, poolSize: 2, applicationName: 'credential-vault-cli' });
  await ds.initialize();
  try {
    return await fn(ds);
  } finally {
    await ds.destroy();
    await embedded?.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'keys') return runKeysCommand(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      admin: { type: 'boolean', default: false },
      tenant: { type: 'string', default: 'default' },
      sub: { type: 'string', default: 'dev-user' },
      agent: { type: 'string' },
      scope: { type: 'string', default: '' },
      ttl: { type: 'string', default: '3600' },
      anchors: { type: 'string' },
      'public-key': { type: 'string' },
      before: { type: 'string' },
    },
  });
  const config = loadConfig(process.env);
  const [cmd, sub] = positionals;
  if (cmd === 'dev-token') {
    if (!config.devIssuer) {
      process.stderr.write('the development issuer is off (VAULT_DEV_ISSUER=false, DATABASE_URL set, or production)\n');
      return EXIT.failure;
    }
    const dev = await loadDevIssuer(config.dataDir, config.publicUrl);
    const scopes = [values.admin ? 'vault:admin' : '', values.scope].filter(Boolean).join(' ');
    const claims: Record<string, unknown> = { sub: values.sub, tid: values.tenant, aud: config.audience, scope: scopes };
    if (values.agent) claims.act = { sub: values.agent };
    process.stdout.write(dev.sign(claims, Number(values.ttl)) + '\n');
    return EXIT.ok;
  }
  if (cmd === 'migrate') {
    const applied = await withDatabase(config, (ds) => runMigrations(ds, config.database.schema));
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
    return EXIT.ok;
  }
  if (cmd === 'audit' && sub === 'verify') {
    return runAuditVerify(config, (fn) => withDatabase(config, fn), { anchors: values.anchors, publicKey: values['public-key'] });
  }
  if (cmd === 'audit' && sub === 'retain') {
    return runAuditRetain(config, (fn) => withDatabase(config, fn), { anchors: values.anchors, publicKey: values['public-key'], before: values.before });
  }
  process.stderr.write(USAGE + '\n');
  return EXIT.usage;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      process.exit(EXIT.config);
    }
    process.stderr.write(`error: ${err?.name ?? 'Error'}: ${err?.message ?? String(err)}\n`);
    process.exit(EXIT.failure);
  },
);
