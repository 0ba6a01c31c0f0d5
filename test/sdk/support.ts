import { connectOverHttp, Rig, startRig, T } from '../connect/support';

/** The SDK's world: the real vault, the real authorization server, and an agent with a client secret. */
export interface SdkWorld {
  rig: Rig;
  /** mcp-1's client secret (client_secret_basic). */
  secret: string;
  /** A user's own token, from the trusted test issuer (what an app would hand its agent). */
  userToken(user: string): string;
  close(): Promise<void>;
}

/**
 * `calendar`: custom-oauth2 against oidc-provider (google mode), allowed to mcp-1; alice connects
 * through the real browser-less connect flow. `openai`: API keys, allowed to mcp-1, alice has one.
 * `github`: API keys, in no policy.
 */
export async function startSdkWorld(o: { accessTokenTtl?: number } = {}): Promise<SdkWorld> {
  const rig = await startRig({ mode: 'google', accessTokenTtl: o.accessTokenTtl });
  const put = async (path: string, body: unknown) => {
    const r = await rig.v.call('PUT', path, { token: rig.admin(), body });
    if (r.status >= 300) throw new Error(`${path}: ${r.status} ${r.text}`);
    return r.body;
  };
  const { client_secret: secret } = await put('/v1/admin/agents/mcp-1', { name: 'Calendar assistant', auth_method: 'client_secret_basic' });
  await put('/v1/admin/integrations/openai', { provider: 'api_key', display_name: 'OpenAI' });
  await put('/v1/admin/integrations/github', { provider: 'api_key', display_name: 'GitHub' });
  await put('/v1/admin/policies/assistant-openai', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' });
  await put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-openai' });
  await put('/v1/admin/connections/github/users/alice', { api_key: 'gh-alice' });
  await connectOverHttp(rig, 'alice');
  return {
    rig,
    secret,
    userToken: (user) => rig.v.issuer.sign({ sub: user, tid: T }),
    close: () => rig.close(),
  };
}

/** Drives alice's calendar connection to needs_reauth the real way: expired token, provider says invalid_grant. */
export async function breakGrant(w: SdkWorld, user: string): Promise<void> {
  await w.rig.v.db.ds.query(`UPDATE vault.connections SET expires_at = now() - interval '1 second' WHERE subject = $1`, [user]);
  await w.rig.provider.faults({ next: [{ status: 400, body: { error: 'invalid_grant', error_description: 'grant revoked' } }] });
  const r = await w.rig.v.call('POST', '/v1/connections/calendar/token', { token: w.rig.agentToken(user) });
  if (r.status !== 409) throw new Error(`expected needs_reauth, got ${r.status} ${r.text}`);
}

/** A fetch that counts the calls it passes on, by path. */
export function countingFetch(): { fetch: typeof fetch; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push(new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url).pathname);
      return fetch(input, init);
    },
  };
}
