import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../../libs/db';

export interface BenchDatabases {
  /** A fresh database per name. */
  urls: Record<string, string>;
  adminUrl: string;
  dropAll(): Promise<void>;
}

/**
 * Fresh databases on the machine's Postgres (BENCH_DATABASE_URL, or 127.0.0.1:5432), else on an
 * embedded one; dropped afterwards.
 */
export async function benchDatabases(names: string[]): Promise<BenchDatabases> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let embedded: { stop(): Promise<void> } | undefined;
  if (!adminUrl) {
    if (await reachable('127.0.0.1', 5432)) adminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
    else {
      const db = await startEmbeddedPostgres(mkdtempSync(join(tmpdir(), 'vault-bench-pg-')));
      embedded = db;
      adminUrl = db.url;
    }
  }
  const suffix = randomBytes(4).toString('hex');
  const urls: Record<string, string> = {};
  const created: string[] = [];
  const admin = async (sql: string) => {
    const c = new Client({ connectionString: adminUrl });
    c.on('error', () => undefined); // a terminated idle backend; the query below reports it
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  for (const name of names) {
    const db = `vault_bench_${name}_${suffix}`;
    await admin(`CREATE DATABASE ${db}`);
    created.push(db);
    const u = new URL(adminUrl);
    u.pathname = `/${db}`;
    urls[name] = u.toString();
  }
  return {
    urls,
    adminUrl,
    async dropAll() {
      for (const db of created) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
      await embedded?.stop();
    },
  };
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.connect(port, host);
  });
}
