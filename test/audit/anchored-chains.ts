import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { AuditAnchor, AuditAnchorJob } from '../../libs/audit-anchors';
import { loadConfig } from '../../libs/config';
import { LocalAuditSigner, LocalKeyProvider, localAuditKeyFile, SystemKeys } from '../../libs/crypto';
import { createDataSource, runMigrations } from '../../libs/db';
import { createTestDatabase, TestDatabase } from '../support/database';
import { captureLogs, event, newAuditLog } from './support';

/** One schema's anchored chain: `env` points the CLI at it, `file` is its AUDIT_ANCHOR_FILE. */
export interface AnchoredChain {
  ds: DataSource;
  env: Record<string, string>;
  file: string;
  anchors: AuditAnchor[];
}

/**
 * For the describe it is called in: a test database and a folder (dropped after it), and `chain()`,
 * a fresh schema there written by the real audit log and anchored by the real anchor job (local
 * provider's key): 3 events, anchor, 3 more, anchor, 1 more (unanchored).
 */
export function anchoredChains(name: string): { readonly dir: string; chain(): Promise<AnchoredChain> } {
  let db: TestDatabase;
  let dir: string;
  const open: DataSource[] = [];
  let schemas = 0;
  const logs = captureLogs();

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), `${name}-`));
  });
  afterAll(async () => {
    for (const ds of open) if (ds.isInitialized) await ds.destroy();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
    logs.restore();
  });

  async function chain(): Promise<AnchoredChain> {
    const schema = `${name}_${++schemas}`;
    const file = join(dir, `${schema}.jsonl`);
    const env = {
      DATABASE_URL: db.url,
      VAULT_DB_SCHEMA: schema,
      LOCAL_KEK_FILE: join(dir, 'kek.json'),
      VAULT_PUBLIC_URL: 'https://vault.test',
      AUDIT_ANCHOR_FILE: file,
      LOG_LEVEL: 'silent',
    };
    const ds = createDataSource({ url: db.url, schema, poolSize: 3 });
    open.push(ds);
    await ds.initialize();
    await runMigrations(ds, schema);
    const kek = new LocalKeyProvider(env.LOCAL_KEK_FILE);
    await kek.init();
    const audit = newAuditLog(ds, await new SystemKeys(ds, kek).get('audit-mac'));
    const config = loadConfig({ ...env, NODE_ENV: 'test' });
    const job = new AuditAnchorJob(ds, config, new LocalAuditSigner(localAuditKeyFile(env.LOCAL_KEK_FILE)), { run: false });
    const anchors: AuditAnchor[] = [];
    for (let i = 1; i <= 7; i++) {
      await audit.record(event(`t${i % 2}`, { details: { i } }));
      if (i === 3 || i === 6) {
        anchors.push(await job.anchor());
        await new Promise((r) => setTimeout(r, 5)); // distinct anchor times, for `audit retain --before`
      }
    }
    return { ds, env, file, anchors };
  }

  return {
    get dir() {
      return dir;
    },
    chain,
  };
}
