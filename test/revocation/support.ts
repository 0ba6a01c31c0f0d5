import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from '../../libs/token-service';
import { startTestVault, TestVault } from '../support/vault';

export const TENANT = 'acme';

/** The vault with an API-key integration, agents `mcp-1` and `mcp-2` (client secrets), a policy letting both release `openai`, and alice's and bob's keys. */
export interface RevocationWorld {
  v: TestVault;
  dataDir: string;
  secrets: Record<string, string>;
  admin(tenant?: string): string;
  /** A user's token from the trusted test issuer (the subject token of an exchange). */
  user(name: string): string;
  /** Another API process on the same database and key material (a second replica). */
  replica(): Promise<TestVault>;
  close(): Promise<void>;
}

export async function startRevocationWorld(agents: Record<string, Record<string, unknown>> = {}): Promise<RevocationWorld> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vault-revocation-'));
  const v = await startTestVault({ VAULT_DATA_DIR: dataDir });
  const admin = (tenant = TENANT) => v.issuer.adminToken(tenant);
  const put = async (path: string, body: unknown) => {
    const res = await v.call('PUT', path, { token: admin(), body });
    if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${path} → ${res.status} ${res.text}`);
    return res.body;
  };
  await put('/v1/admin/integrations/openai', { provider: 'api_key' });
  const secrets: Record<string, string> = {};
  for (const [id, extra] of Object.entries({ 'mcp-1': {}, 'mcp-2': {}, ...agents }))
    secrets[id] = (await put(`/v1/admin/agents/${id}`, { name: id, auth_method: 'client_secret_basic', ...extra })).client_secret;
  await put('/v1/admin/policies/agents-openai', { agents: Object.keys(secrets), integrations: ['openai'], effect: 'allow' });
  await put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-canary' });
  await put('/v1/admin/connections/openai/users/bob', { api_key: 'sk-bob-canary' });
  const replicas: TestVault[] = [];
  return {
    v,
    dataDir,
    secrets,
    admin,
    user: (name) => v.issuer.sign({ sub: name, tid: TENANT }),
    async replica() {
      // The same database and key material; it trusts the first one's test issuer (admin and user tokens).
      const r = await startTestVault({
        VAULT_DATA_DIR: dataDir,
        DATABASE_URL: v.db.url,
        TRUSTED_ISSUERS: JSON.stringify([v.issuer.config({ tenant_claim: 'tid' })]),
      });
      replicas.push(r);
      return r;
    },
    async close() {
      await Promise.all(replicas.map((r) => r.close()));
      await v.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function basic(clientId: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` };
}

/** A form POST to the vault (token, revoke, introspect endpoints). */
export async function form(
  v: TestVault,
  path: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(v.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** A vault token for `agent` acting for `user` (connections:openai), by token exchange. */
export async function vaultToken(
  w: RevocationWorld,
  agent: string,
  user = 'alice',
  headers: Record<string, string> = {},
  subjectToken = w.user(user),
): Promise<string> {
  const res = await form(
    w.v,
    '/oauth2/token',
    {
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: subjectToken,
      subject_token_type: TOKEN_TYPES.accessToken,
      scope: 'connections:openai',
    },
    { ...basic(agent, w.secrets[agent]), ...headers },
  );
  if (res.status !== 200) throw new Error(`exchange → ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token;
}

export const release = (v: TestVault, token: string) => v.call('POST', '/v1/connections/openai/token', { token });

/** Polls until `cond` holds; fails after `ms`. */
export async function until(cond: () => Promise<boolean> | boolean, ms: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until the clock is in a later second than `iso` (a cutoff covers its whole second). */
export async function afterSecondOf(iso: string): Promise<void> {
  const wait = Date.parse(iso) - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait + 5));
}
