import { freePort } from './net';
import { ProviderOptions, startTestProvider, TestProvider } from './oidc-provider';
import { startTestVault, TestVault } from './vault';

/** The vault on a known port and a real OpenID provider whose redirect URI is on that port. */
export interface ProviderWorld {
  base: string;
  v: TestVault;
  provider: TestProvider;
  /** PUT as the admin of `tenant` (the world's by default), asserting it succeeded; answers the body. */
  put(path: string, body: unknown, tenant?: string): Promise<any>;
  /** PUT /v1/admin/user-login: the tenant's people sign in with this provider; `extra` adds settings (scopes, roles_claim). */
  userLogin(extra?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export interface ProviderWorldOptions {
  tenant: string;
  /** The provider's mode and roles; its redirect URI is the vault's `callback` path. */
  provider: Omit<ProviderOptions, 'redirectUris'>;
  callback: '/auth/callback' | '/oauth/callback';
  /** Vault configuration beyond the port, public URL, audience and outbound allow list. */
  env?: Record<string, string>;
}

export async function startProviderWorld(o: ProviderWorldOptions): Promise<ProviderWorld> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const provider = await startTestProvider({ ...o.provider, redirectUris: [`${base}${o.callback}`] });
  let v: TestVault;
  try {
    v = await startTestVault({
      PORT: String(port),
      VAULT_PUBLIC_URL: base,
      VAULT_AUDIENCE: 'https://vault.test.example',
      OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
      ...o.env,
    });
  } catch (e) {
    await provider.close();
    throw e;
  }
  const put = async (path: string, body: unknown, tenant = o.tenant) => {
    const r = await v.call('PUT', path, { token: v.issuer.adminToken(tenant), body });
    // The tests' set-up assertion (status below 300), whose failure names the call and the problem body.
    expect(`PUT ${path}: ${r.status} ${r.status < 300 ? '' : r.text}`).toMatch(/^PUT \S+: [12]\d\d /);
    return r.body;
  };
  const userLogin = async (extra: Record<string, unknown> = {}) => {
    await put('/v1/admin/user-login', {
      issuer: provider.issuer,
      client_id: provider.clientId,
      client_secret: provider.clientSecret,
      ...extra,
    });
  };
  const close = async () => {
    await v.close();
    await provider.close();
  };
  return { base, v, provider, put, userLogin, close };
}
