import { randomBytes } from 'node:crypto';
import { ConsoleLogger, Logger, LoggerService } from '@nestjs/common';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AuditLog, AuditMacKeySource } from '../../libs/audit';

export function randomMacKey(): Buffer {
  return randomBytes(32);
}

export function macKeySource(key: Buffer): AuditMacKeySource {
  return { macKey: async () => key };
}

export function newAuditLog(ds: DataSource, key: Buffer, audit: Partial<{ timeoutMs: number; batchMax: number }> = {}): AuditLog {
  return new AuditLog(ds, { audit: { timeoutMs: 2000, batchMax: 256, ...audit } }, macKeySource(key));
}

/** A connection of its own, outside any pool the code under test uses. */
export async function separateClient(url: string, schema = 'vault'): Promise<Client> {
  const c = new Client({ connectionString: url, options: `-c search_path=${schema}` });
  await c.connect();
  return c;
}

/** Routes Nest's logger into an array (and out of the test output). */
export function captureLogs(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const sink = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  const logger: LoggerService = { log: sink, error: sink, warn: sink, debug: sink, verbose: sink, fatal: sink };
  Logger.overrideLogger(logger);
  return { lines, restore: () => Logger.overrideLogger(new ConsoleLogger()) };
}

/** Polls until `cond` holds (no timing assertion: jest's timeout is the bound). */
export async function eventually(cond: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 20));
}

export function event(tenant: string, over: Record<string, unknown> = {}) {
  return {
    tenant,
    action: 'credential.release',
    outcome: 'allowed' as const,
    agent: 'agent-1',
    subject: 'user-1',
    integration: 'github',
    ...over,
  };
}
