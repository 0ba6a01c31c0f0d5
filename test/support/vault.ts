import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import { startVault, RunningVault } from '../../apps/vault/bootstrap';
import { loadConfig } from '../../libs/config';
import { createTestDatabase, TestDatabase } from './database';
import { TestIssuer } from './issuer';

export interface TestVault {
  url: string;
  db: TestDatabase;
  issuer: TestIssuer;
  vault: RunningVault;
  /** fetch against the vault with JSON in and out. */
  call(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers; text: string }>;
  close(): Promise<void>;
}

/**
 * The real vault (Nest + Fastify + Postgres + keyring) on a fresh database, listening on a free port.
 * Silent unless `opts.logger` is given: then every line Nest logs goes to it. With `opts.logStream`
 * the JSON logs (request lines, and Nest's lines unless `logger` is given) are written there.
 * With `opts.databaseUrl` the vault connects to the rewritten URL of its fresh database.
 */
export async function startTestVault(
  env: Record<string, string> = {},
  opts: { logger?: LoggerService; logStream?: DestinationStream; databaseUrl?: (url: string) => string } = {},
): Promise<TestVault> {
  const db = await createTestDatabase({ migrate: false });
  const issuer = new TestIssuer();
  const dataDir = env.VAULT_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'vault-data-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    VAULT_PUBLIC_URL: 'https://vault.test.example',
    // `databaseUrl` lets a test route the vault's connections through something (a TCP proxy); `db` stays direct.
    DATABASE_URL: opts.databaseUrl ? opts.databaseUrl(db.url) : db.url,
    VAULT_DATA_DIR: dataDir,
    TRUSTED_ISSUERS: JSON.stringify([issuer.config({ tenant_claim: 'tid' })]),
    VAULT_DEV_ISSUER: 'false',
    VAULT_DB_POOL_SIZE: '10',
    ...env,
  });
  const vault = await startVault(config, { logger: opts.logger ?? (opts.logStream ? undefined : false), logStream: opts.logStream });
  const call: TestVault['call'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    } else if (opts.raw !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(vault.url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, headers: res.headers, text };
  };
  return {
    url: vault.url,
    db,
    issuer,
    vault,
    call,
    async close() {
      await vault.close();
      await db.drop();
      // A data dir made here goes with the vault; one the caller passed is the caller's.
      if (!env.VAULT_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Another API process on `v`'s database, with caches of its own (cold until it loads a key), trusting
 * `v`'s issuer; `env` adds to its configuration. The caller closes it.
 */
export function startSecondVault(v: TestVault, env: Record<string, string> = {}): Promise<RunningVault> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    VAULT_PUBLIC_URL: 'https://vault.test.example',
    DATABASE_URL: v.db.url,
    TRUSTED_ISSUERS: JSON.stringify([v.issuer.config()]),
    VAULT_DEV_ISSUER: 'false',
    ...env,
  });
  return startVault(config, { logger: false });
}
