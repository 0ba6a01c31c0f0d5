import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, VaultConfig } from '../../libs/config';
import { createDataSource, isDatabaseUnavailable, runMigrations, startEmbeddedPostgres } from '../../libs/db';
import { KeyActor, KeyAdminService, KeyJob, KeyJobRunner, KeyStatusService, KeyStatusView, SYSTEM_TENANT } from '../../libs/keys';
import { DomainError } from '../../libs/kernel';
import { parseCommand, usageError } from './args';
import { KeysContextModule } from './keys-context.module';
import { ProgressDisplay } from './progress';

export const KEYS_USAGE = `  keys status [--tenant T] [--json]
                 KEK versions, tenant-key versions with record counts, jobs, warnings
  keys rotate --target kek|tenant|signing [--tenant T] [--keep-version] [--run] [--no-wait]
                 start an online rotation and follow it (a progress bar on a terminal):
                 kek: new KEK version (--keep-version: only move keys onto the current one);
                 tenant: new tenant key for T, or for every tenant without --tenant;
                 --run executes the job in this process instead of waiting for a worker
  keys reseal [--run] [--no-wait]
                 re-seal every sealed field onto the current AAD scheme (bound to its row's
                 owner columns), then refuse the old scheme; the scheduler starts it on its own
  keys retire --version N --tenant T
                 retire tenant key version N and every version below it
  exit codes (keys): 0 ok · 1 error (e.g. an unknown tenant) · 3 a job failed · 4 refused (records still use the
                 version, active key, not implemented) · 5 status has warnings · 64 usage ·
                 69 database or key provider unavailable · 78 invalid configuration`;

const KEYS_USAGE_FULL = `usage: npm run cli -- keys <command>\n${KEYS_USAGE}`;

export const KEYS_EXIT = { ok: 0, failure: 1, jobFailed: 3, refused: 4, warnings: 5, usage: 64, unavailable: 69 } as const;

const POLL_MS = 500;
const WORKER_HINT_AFTER_MS = 10_000;

type Args = {
  tenant?: string;
  target?: string;
  version?: string;
  json: boolean;
  run: boolean;
  'no-wait': boolean;
  'keep-version': boolean;
};

/** `keys …` commands. Runs against the database directly (like `audit verify`), as an operator. */
export async function runKeysCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand<Args>(
    argv,
    {
      tenant: { type: 'string' },
      target: { type: 'string' },
      version: { type: 'string' },
      json: { type: 'boolean', default: false },
      run: { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      'keep-version': { type: 'boolean', default: false },
    },
    KEYS_USAGE_FULL,
  );
  if ('exit' in parsed) return parsed.exit;
  const args = parsed.values;
  const [sub, extra] = parsed.positionals;
  const problem =
    sub === undefined
      ? 'a keys command is needed'
      : !['status', 'rotate', 'retire', 'reseal'].includes(sub)
        ? `unknown command 'keys ${sub}'`
        : extra !== undefined
          ? `unexpected argument '${extra}'`
          : sub === 'rotate' && !['kek', 'tenant', 'signing'].includes(args.target ?? '')
            ? `--target must be kek, tenant or signing${args.target === undefined ? '' : `, not '${args.target}'`}`
            : sub === 'retire' && !/^[1-9][0-9]{0,9}$/.test(args.version ?? '')
              ? '--version must be a positive whole number'
              : sub === 'retire' && !args.tenant
                ? '--tenant is required'
                : undefined;
  if (problem) return usageError(problem, KEYS_USAGE_FULL).exit;
  const config = loadConfig(process.env);
  const actor: KeyActor = { tenant: args.tenant ?? SYSTEM_TENANT, subject: `cli:${safeUser()}`, operator: true };
  try {
    return await withKeysContext(config, async (app) => {
      if (sub === 'status') return status(app, args);
      if (sub === 'retire') {
        const r = await app.get(KeyAdminService).retire(actor, Number(args.version), args.tenant);
        process.stdout.write(
          `tenant ${r.tenant}: retired versions ${r.retired.join(', ') || '(none left)'}; minimum ` +
            `decryption version is now ${r.minVersion}\n`,
        );
        return KEYS_EXIT.ok;
      }
      if (sub === 'reseal') return reseal(app, actor, args);
      return rotate(app, actor, args);
    });
  } catch (err) {
    if (err instanceof DomainError) {
      process.stderr.write(`${err.code}: ${err.detail}\n`);
      if (err.code === 'unavailable') return KEYS_EXIT.unavailable;
      if (['conflict', 'not_implemented', 'forbidden'].includes(err.code)) return KEYS_EXIT.refused;
      if (err.code === 'not_found') return KEYS_EXIT.failure;
      if (err.code === 'validation_failed') return KEYS_EXIT.usage;
    }
    if (isDatabaseUnavailable(err)) {
      process.stderr.write('unavailable: the database cannot be reached\n');
      return KEYS_EXIT.unavailable;
    }
    throw err;
  }
}

async function status(app: INestApplicationContext, args: Args): Promise<number> {
  const view = await app.get(KeyStatusService).status({ operator: true, tenant: args.tenant });
  process.stdout.write(args.json ? JSON.stringify(view, null, 2) + '\n' : renderStatus(view));
  return view.warnings.length ? KEYS_EXIT.warnings : KEYS_EXIT.ok;
}

async function rotate(app: INestApplicationContext, actor: KeyActor, args: Args): Promise<number> {
  const admin = app.get(KeyAdminService);
  const target = args.target as 'kek' | 'tenant' | 'signing';
  let jobs: KeyJob[];
  if (target === 'tenant' && !args.tenant) {
    const tenants: Array<{ tenant: string }> = await app.get(KeyStatusService).activeTenants();
    jobs = [];
    for (const { tenant } of tenants) jobs.push((await admin.rotate({ ...actor, tenant }, 'tenant', { tenant })).job);
  } else {
    jobs = [(await admin.rotate(actor, target, { tenant: args.tenant, newVersion: !args['keep-version'] })).job];
  }
  return followJobs(app, actor, jobs, args);
}

async function reseal(app: INestApplicationContext, actor: KeyActor, args: Args): Promise<number> {
  return followJobs(app, actor, [(await app.get(KeyAdminService).reseal(actor)).job], args);
}

/** Prints the jobs, then (unless --no-wait) follows them to their end, running them here with --run. */
async function followJobs(app: INestApplicationContext, actor: KeyActor, jobs: KeyJob[], args: Args): Promise<number> {
  for (const j of jobs) process.stdout.write(`job ${j.id} ${j.kind}${j.tenant ? ` (${j.tenant})` : ''} ${j.status}\n`);
  if (args['no-wait'] || !jobs.length) return KEYS_EXIT.ok;
  const running = args.run ? runHere(app.get(KeyJobRunner), jobs) : undefined;
  const ended = await follow(app.get(KeyAdminService), actor, jobs, !args.run);
  await running;
  const failed = ended.filter((j) => j.status === 'failed');
  for (const j of failed) process.stderr.write(`job ${j.id} failed: ${j.errorClass ?? 'unknown'}\n`);
  return failed.length ? KEYS_EXIT.jobFailed : KEYS_EXIT.ok;
}

/** Executes the jobs in this process (each leased like a worker would; one a worker already holds is left to it). */
async function runHere(runner: KeyJobRunner, jobs: KeyJob[]): Promise<void> {
  for (const j of jobs) {
    for (let tries = 0; tries < 3 && !(await runner.runOnce(j.id)); tries++) await sleep(POLL_MS);
  }
}

/** Polls the jobs until each has ended, drawing their combined progress. */
async function follow(admin: KeyAdminService, actor: KeyActor, jobs: KeyJob[], hintWorker: boolean): Promise<KeyJob[]> {
  const display = new ProgressDisplay();
  const label = jobs.length === 1 ? `${jobs[0].kind}${jobs[0].tenant ? ` ${jobs[0].tenant}` : ''}` : `${jobs.length} ${jobs[0].kind} jobs`;
  const started = Date.now();
  let hinted = !hintWorker;
  for (;;) {
    const now = await Promise.all(jobs.map((j) => admin.job(actor, j.id)));
    const done = now.reduce((n, j) => n + j.done, 0);
    const total = now.reduce((n, j) => n + j.total, 0);
    const open = now.filter((j) => j.status === 'pending' || j.status === 'running');
    const status = open.length
      ? open.some((j) => j.status === 'running')
        ? 'running'
        : 'pending'
      : now.some((j) => j.status === 'failed')
        ? 'failed'
        : 'succeeded';
    display.update(label, status, done, total);
    if (!open.length) {
      display.end();
      return now;
    }
    if (!hinted && Date.now() - started > WORKER_HINT_AFTER_MS && now.every((j) => j.status === 'pending')) {
      display.note('no worker has picked the job up yet: start one (npm run start:worker) or rerun with --run');
      hinted = true;
    }
    await sleep(POLL_MS);
  }
}

function renderStatus(v: KeyStatusView): string {
  const created = v.kek.current_created_at ? ` created ${new Date(v.kek.current_created_at).toISOString()}` : '';
  const period = `cryptoperiod ${v.kek.period_days} d${v.kek.automatic ? ' (automatic)' : ''}`;
  const lines = [`KEK (${v.kek.provider}) current ${v.kek.current_key_id}${created} · ${period}`];
  for (const k of v.kek.versions)
    lines.push(`  ${k.current ? '*' : ' '} ${k.key_id}  tenant keys ${k.tenant_keys}  system keys ${k.system_keys ?? '-'}`);
  if (v.summary) lines.push(`tenants: ${v.summary.tenants} (${v.summary.listed} listed)`);
  for (const t of v.tenants) {
    lines.push(
      `tenant ${t.tenant}: active v${t.active_version ?? '-'}, minimum decryption ` +
        `v${t.min_version}${t.shredded_at ? ', shredded' : ''}, AAD scheme ` +
        `${t.aad.scheme}/${t.aad.current}${t.aad.records_on_older_scheme ? ` (${t.aad.records_on_older_scheme} records to re-seal)` : ''}`,
    );
    for (const k of t.versions)
      lines.push(
        `    v${k.version} ${k.status.padEnd(12)} ${Object.entries(k.records)
          .map(([table, n]) => `${table} ${n}`)
          .join('  ')}  encryptions ${k.encryptions}`,
      );
  }
  for (const j of v.jobs.slice(0, 10))
    lines.push(
      `job ${j.id} ${j.kind}${j.tenant ? ` ${j.tenant}` : ''} ${j.status} ` +
        `${j.done}/${j.total}${j.error_class ? ` (${j.error_class})` : ''}`,
    );
  for (const w of v.warnings) lines.push(`WARNING ${w.code}: ${w.message}${w.tenant ? ` [${w.tenant}]` : ''}`);
  return lines.join('\n') + '\n';
}

async function withKeysContext<T>(config: VaultConfig, fn: (app: INestApplicationContext) => Promise<T>): Promise<T> {
  const embedded = config.database.url ? undefined : await startEmbeddedPostgres(config.dataDir);
  const ds = createDataSource({
    url: config.database.url ?? embedded!.url,
    schema: config.database.schema,
    poolSize: config.keys.rewrapLanes + 4,
    applicationName: 'credential-vault-cli',
  });
  try {
    await ds.initialize();
    await runMigrations(ds, config.database.schema);
    const app = await NestFactory.createApplicationContext(KeysContextModule.forRoot(config, ds), { logger: ['error'] });
    try {
      return await fn(app);
    } finally {
      await app.close();
    }
  } finally {
    if (ds.isInitialized) await ds.destroy();
    await embedded?.stop();
  }
}

function safeUser(): string {
  try {
    return (
      userInfo()
        .username.replace(/[^A-Za-z0-9._-]/g, '')
        .slice(0, 64) || 'unknown'
    );
  } catch {
    return 'unknown';
  }
}
