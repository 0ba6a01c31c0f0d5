import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpawnedWorker, startWorker, waitFor } from '../keys/support';
import { connectOverHttp, Rig, RigOptions, startRig } from '../connect/support';

export { waitFor };

/**
 * A vault, a real authorization server and a connected user, plus real worker processes
 * (apps/worker/main.ts) on the same database and KEK that the test starts, stops and kills.
 */
export interface RefreshRig extends Rig {
  workers: SpawnedWorker[];
  /** A worker process; resolves once it runs its refresh loop. */
  worker(env?: Record<string, string>): Promise<SpawnedWorker>;
  row(user: string): Promise<Record<string, any>>;
  /** Makes the user's connection due for the worker now (and expired, so a release refreshes too). */
  makeDue(user: string, expiresInSeconds?: number): Promise<void>;
  release(user: string): Promise<{ status: number; body: any; headers: Headers }>;
  refreshAudit(): Promise<any[]>;
}

export async function startRefreshRig(o: RigOptions & { users?: string[] }): Promise<RefreshRig> {
  const kekFile = join(mkdtempSync(join(tmpdir(), 'refresh-kek-')), 'kek.json');
  const rig = await startRig({ ...o, env: { LOCAL_KEK_FILE: kekFile, ...o.env } });
  for (const user of o.users ?? ['alice']) await connectOverHttp(rig, user);
  const workers: SpawnedWorker[] = [];
  const base = {
    DATABASE_URL: rig.v.db.url,
    LOCAL_KEK_FILE: kekFile,
    VAULT_PUBLIC_URL: 'https://vault.test.example',
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    REFRESH_POLL_INTERVAL_MS: '50',
    KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
    LOG_LEVEL: 'warn',
  };
  const ds = rig.v.db.ds;
  return {
    ...rig,
    workers,
    async worker(env = {}) {
      const w = await startWorker({ ...base, ...env });
      workers.push(w);
      return w;
    },
    async row(user) {
      const [r] = await ds.query(
        `SELECT id, status, version, refresh_token_ct, access_token_ct, lease_owner, lease_expires_at, next_refresh_at, last_refresh_at,
                last_error_class, refresh_failures, interrupted_owner, expires_at FROM vault.connections WHERE subject = $1`,
        [user],
      );
      return r;
    },
    async makeDue(user, expiresInSeconds = -1) {
      await ds.query(
        `UPDATE vault.connections SET expires_at = now() + ($2::int * interval '1 second'), next_refresh_at = now() WHERE subject = $1`,
        [user, expiresInSeconds],
      );
    },
    release: (user) => rig.v.call('POST', `/v1/connections/${rig.integration}/token`, { token: rig.agentToken(user) }),
    async refreshAudit() {
      const rows = await ds.query(
        `SELECT outcome, reason, details FROM vault.audit_events WHERE action = 'connection.refresh' ORDER BY seq`,
      );
      return rows;
    },
    async close() {
      await Promise.all(workers.map((w) => w.kill('SIGKILL')));
      await rig.close();
    },
  };
}
