import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OAuthCredentialStore } from '../../libs/connections';
import { asTenantId, Secret } from '../../libs/kernel';
import { SpawnedWorker, startWorker, waitFor } from '../keys/support';
import { startTestVault, TestVault } from '../support/vault';
import { RotatingProvider } from './rotating-provider';

export { waitFor };

const T = 'acme';
export const INTEGRATION = 'ledger';

/**
 * A vault, the rotating token endpoint (rotating-provider.ts) as a custom-oauth2 integration, and
 * connections seeded straight into the store (sealed under the vault's own keyring), plus real
 * worker processes (apps/worker/main.ts) on the same database and KEK.
 */
export interface StormRig {
  v: TestVault;
  provider: RotatingProvider;
  workers: SpawnedWorker[];
  /** The access token each seeded user was given. */
  accessOf: Record<string, string>;
  worker(env?: Record<string, string>): Promise<SpawnedWorker>;
  /** `n` users `u0..u{n-1}` (or `{prefix}0..`), each with a fresh grant; returns their connection ids. */
  seed(n: number, o?: { integration?: string; prefix?: string; expiresIn?: () => number }): Promise<string[]>;
  /** A release for `user` of `integration`. */
  releaseOf(integration: string, user: string): ReturnType<TestVault['call']>;
  row(user: string): Promise<Record<string, any>>;
  release(user: string): ReturnType<TestVault['call']>;
  close(): Promise<void>;
}

export async function startStormRig(o: {
  graceSeconds: number;
  accessTtl?: () => number;
  env?: Record<string, string>;
  databaseUrl?: (url: string) => string;
  /** Key provider settings for the vault and its workers (default: a local KEK file). */
  keyEnv?: Record<string, string>;
  /** More integrations on the same provider, with their own reuse grace (name → seconds). */
  extraIntegrations?: Record<string, number>;
}): Promise<StormRig> {
  const kekFile = join(mkdtempSync(join(tmpdir(), 'storm-kek-')), 'kek.json');
  const keyEnv = o.keyEnv ?? { LOCAL_KEK_FILE: kekFile };
  const provider = await new RotatingProvider({
    clientId: 'storm-client',
    clientSecret: 'storm-secret',
    graceSeconds: o.graceSeconds,
    accessTtl: o.accessTtl ?? (() => 3600),
  }).start();
  const v = await startTestVault(
    { OUTBOUND_ALLOW_HOSTS: '127.0.0.1', ...keyEnv, REFRESH_IN_PROCESS: 'false', ...o.env },
    { databaseUrl: o.databaseUrl },
  );
  const admin = v.issuer.adminToken(T);
  const put = async (path: string, body: unknown) => {
    const r = await v.call('PUT', path, { token: admin, body });
    if (r.status >= 300) throw new Error(`${path}: ${r.status} ${r.text}`);
  };
  const graces: Record<string, number> = { [INTEGRATION]: o.graceSeconds, ...o.extraIntegrations };
  for (const [name, grace] of Object.entries(graces)) {
    await put(`/v1/admin/integrations/${name}`, {
      provider: 'custom-oauth2',
      display_name: name,
      client_id: provider.o.clientId,
      client_secret: provider.o.clientSecret,
      authorize_url: `${provider.url}/auth`,
      token_url: `${provider.url}/token`,
      scopes: ['read'],
      return_urls: ['https://app.test.example/settings/'],
      provider_options: { refresh_rotation: 'always', refresh_reuse_grace_seconds: grace },
    });
  }
  await put('/v1/admin/agents/mcp-1', { name: 'Ledger assistant' });
  await put('/v1/admin/policies/assistant-ledger', { agents: ['mcp-1'], integrations: Object.keys(graces), effect: 'allow' });
  const store = v.vault.app.get(OAuthCredentialStore);
  const workers: SpawnedWorker[] = [];
  const accessOf: Record<string, string> = {};
  const base = {
    DATABASE_URL: v.db.url,
    ...keyEnv,
    VAULT_PUBLIC_URL: 'https://vault.test.example',
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    REFRESH_POLL_INTERVAL_MS: '50',
    KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
    LOG_LEVEL: 'warn',
  };
  return {
    v,
    provider,
    workers,
    accessOf,
    async worker(env = {}) {
      const w = await startWorker({ ...base, ...env });
      workers.push(w);
      return w;
    },
    async seed(n, so = {}) {
      const integration = so.integration ?? INTEGRATION;
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const g = provider.grant(graces[integration]);
        const expiresIn = so.expiresIn?.() ?? g.expiresIn;
        provider.access.set(g.accessToken, Date.now() + expiresIn * 1000); // the provider agrees on its life
        const c = await store.put(asTenantId(T), integration, `${so.prefix ?? 'u'}${i}`, {
          accessToken: Secret.of(g.accessToken),
          refreshToken: Secret.of(g.refreshToken),
          expiresAt: new Date(Date.now() + expiresIn * 1000),
          refreshTokenExpiresAt: null,
          scopes: ['read'],
          metadata: {},
        });
        ids.push(c.id);
        accessOf[`${so.prefix ?? 'u'}${i}`] = g.accessToken;
      }
      return ids;
    },
    async row(user) {
      const [r] = await v.db.ds.query(
        `SELECT id, status, version, refresh_token_ct, lease_owner, lease_expires_at, next_refresh_at, last_error_class, refresh_failures,
                interrupted_owner, refresh_call_started_at, expires_at FROM vault.connections WHERE subject = $1`,
        [user],
      );
      return r;
    },
    release: (user) =>
      v.call('POST', `/v1/connections/${INTEGRATION}/token`, {
        token: v.issuer.agentToken({ tenant: T, user, agent: 'mcp-1', integrations: [INTEGRATION] }),
      }),
    releaseOf: (integration, user) =>
      v.call('POST', `/v1/connections/${integration}/token`, {
        token: v.issuer.agentToken({ tenant: T, user, agent: 'mcp-1', integrations: [integration] }),
      }),
    async close() {
      await Promise.all(workers.map((w) => w.kill('SIGKILL')));
      await v.close();
      await provider.close();
    },
  };
}
