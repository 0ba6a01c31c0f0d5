import 'reflect-metadata';
import { loadDevIssuer } from '../../libs/auth';
import { ConfigError, loadConfig, VaultConfig } from '../../libs/config';
import { createDataSource, runMigrations, startEmbeddedPostgres } from '../../libs/db';
import { parseCommand, usageError } from './args';
import { AUDIT_USAGE, runAuditRetain, runAuditVerify } from './audit-commands';
import { KEYS_USAGE, runKeysCommand } from './keys-commands';

const USAGE = `usage: npm run cli -- <command> [--help]
  dev-token [--admin] [--tenant T] [--sub USER] [--agent CLIENT_ID] [--scope "a b"] [--roles "a b"] [--aud URI] [--ttl SECONDS]
                 mint a token from the development issuer (embedded default only)
${AUDIT_USAGE}
  migrate        apply pending migrations and exit
${KEYS_USAGE}`;

/** Exit codes scripts can rely on. */
const EXIT = { ok: 0, failure: 1, tampered: 2, usage: 64, config: 78 } as const;

async function withDatabase<T>(config: VaultConfig, fn: (ds: ReturnType<typeof createDataSource>) => Promise<T>): Promise<T> {
  const embedded = config.database.url ? undefined : await startEmbeddedPostgres(config.dataDir);
  const ds = createDataSource({
    url: config.database.url ?? embedded!.url,
    schema: config.database.schema,
    poolSize: 2,
    applicationName: 'credential-vault-cli',
  });
  await ds.initialize();
  try {
    return await fn(ds);
  } finally {
    await ds.destroy();
    await embedded?.stop();
  }
}

const DEV_TOKEN_USAGE = USAGE.split('\n').slice(1, 3).join('\n');

async function main(argv: string[]): Promise<number> {
  const [cmd, sub] = argv;
  if (cmd === 'keys') return runKeysCommand(argv.slice(1));
  if (cmd === 'dev-token') return devToken(argv.slice(1));
  if (cmd === 'migrate') {
    const parsed = parseCommand(
      argv.slice(1),
      {},
      `usage: npm run cli -- migrate\n${USAGE.split('\n').find((l) => l.startsWith('  migrate'))}`,
    );
    if ('exit' in parsed) return parsed.exit;
    if (parsed.positionals.length) return usageError(`unexpected argument '${parsed.positionals[0]}'`, USAGE).exit;
    const config = loadConfig(process.env);
    const applied = await withDatabase(config, (ds) => runMigrations(ds, config.database.schema));
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
    return EXIT.ok;
  }
  if (cmd === 'audit' && (sub === '--help' || sub === '-h')) {
    process.stdout.write(`usage: npm run cli -- audit verify|retain\n${AUDIT_USAGE}\n`);
    return EXIT.ok;
  }
  if (cmd === 'audit' && (sub === 'verify' || sub === 'retain')) {
    const usage = `usage: npm run cli -- audit ${sub}\n${AUDIT_USAGE}`;
    const text = { type: 'string' } as const;
    const options: Record<string, typeof text> = { anchors: text, 'public-key': text };
    if (sub === 'retain') options.before = text;
    const parsed = parseCommand<{ anchors?: string; 'public-key'?: string; before?: string }>(argv.slice(2), options, usage);
    if ('exit' in parsed) return parsed.exit;
    if (parsed.positionals.length) return usageError(`unexpected argument '${parsed.positionals[0]}'`, usage).exit;
    const config = loadConfig(process.env);
    const { anchors, 'public-key': publicKey, before } = parsed.values;
    if (sub === 'retain') return runAuditRetain(config, (fn) => withDatabase(config, fn), { anchors, publicKey, before });
    return runAuditVerify(config, (fn) => withDatabase(config, fn), { anchors, publicKey });
  }
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd === undefined ? process.stderr : process.stdout).write(USAGE + '\n');
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  return usageError(`unknown command '${argv.slice(0, cmd === 'audit' ? 2 : 1).join(' ')}'`, USAGE).exit;
}

type DevTokenArgs = {
  admin: boolean;
  tenant: string;
  sub: string;
  agent?: string;
  scope: string;
  roles?: string;
  aud?: string;
  ttl: string;
};

async function devToken(argv: string[]): Promise<number> {
  const usage = `usage: npm run cli -- dev-token\n${DEV_TOKEN_USAGE}`;
  const parsed = parseCommand<DevTokenArgs>(
    argv,
    {
      admin: { type: 'boolean', default: false },
      tenant: { type: 'string', default: 'default' },
      sub: { type: 'string', default: 'dev-user' },
      agent: { type: 'string' },
      scope: { type: 'string', default: '' },
      roles: { type: 'string' },
      aud: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
    },
    usage,
  );
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  if (parsed.positionals.length) return usageError(`unexpected argument '${parsed.positionals[0]}'`, usage).exit;
  if (!/^[1-9][0-9]{0,7}$/.test(values.ttl))
    return usageError(`--ttl must be a positive whole number of seconds, not '${values.ttl}'`, usage).exit;
  const config = loadConfig(process.env);
  if (!config.devIssuer) {
    process.stderr.write('the development issuer is off (VAULT_DEV_ISSUER=false, DATABASE_URL set, or production)\n');
    return EXIT.failure;
  }
  const dev = await loadDevIssuer(config.dataDir, config.publicUrl);
  const scopes = [values.admin ? 'vault:admin' : '', values.scope].filter(Boolean).join(' ');
  const claims: Record<string, unknown> = { sub: values.sub, tid: values.tenant, aud: values.aud ?? config.audience, scope: scopes };
  if (values.agent) claims.act = { sub: values.agent };
  // The user's roles, as an identity provider would send them: resources and policies decide on them.
  const roles = values.roles?.split(' ').filter(Boolean);
  if (roles?.length) claims.roles = roles;
  process.stdout.write(dev.sign(claims, Number(values.ttl)) + '\n');
  return EXIT.ok;
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
