import { ProviderMode, startTestProvider, TestProvider } from '../support/oidc-provider';
import { Hop, parseForm, UserAgent } from '../support/oidc-provider/user-agent';
import { startTestVault, TestVault } from '../support/vault';

export const PUBLIC = 'https://vault.test.example';
export const CALLBACK = `${PUBLIC}/oauth/callback`;
export const APP_RETURN = 'https://app.test.example/settings/connections';
export const T = 'acme';

/** The vault, a real authorization server in one of its modes, and a custom-oauth2 integration pointing at it. */
export interface Rig {
  v: TestVault;
  provider: TestProvider;
  integration: string;
  admin(): string;
  agentToken(user: string, agent?: string, integrations?: string[]): string;
  /** A user agent whose requests to the vault's public URL reach the test vault. */
  browser(): UserAgent;
  close(): Promise<void>;
}

export interface RigOptions {
  mode: ProviderMode;
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  integration?: string;
  providerOptions?: Record<string, unknown>;
  env?: Record<string, string>;
  scopes?: string[];
  /** Lifetime of the provider's access tokens, seconds (oidc-provider's default otherwise). */
  accessTokenTtl?: number;
}

export async function startRig(o: RigOptions): Promise<Rig> {
  const provider = await startTestProvider({
    mode: o.mode,
    authMethod: o.authMethod,
    redirectUris: [CALLBACK],
    accessTokenTtl: o.accessTokenTtl,
  });
  const v = await startTestVault({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', ...o.env });
  const integration = o.integration ?? 'calendar';
  const admin = () => v.issuer.adminToken(T);
  const put = async (path: string, body: unknown) => {
    const r = await v.call('PUT', path, { token: admin(), body });
    if (r.status >= 300) throw new Error(`${path}: ${r.status} ${r.text}`);
  };
  await put(`/v1/admin/integrations/${integration}`, {
    provider: 'custom-oauth2',
    display_name: 'Team Calendar',
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
    authorize_url: `${provider.url}/auth`,
    token_url: `${provider.url}/token`,
    revocation_url: `${provider.url}/token/revocation`,
    scopes: o.scopes ?? ['openid', 'email', 'offline_access', 'calendar.read'],
    return_urls: ['https://app.test.example/settings/'],
    provider_options: {
      issuer: provider.issuer,
      require_iss: true,
      token_auth_method: o.authMethod ?? 'client_secret_basic',
      identity: { source: 'id_token', subject: 'sub', email: 'email' },
      scope_descriptions: { 'calendar.read': 'See your calendars and events' },
      ...(o.mode === 'google' ? { authorize_params: { access_type: 'offline', prompt: 'consent' } } : {}),
      ...o.providerOptions,
    },
  });
  await put('/v1/admin/agents/mcp-1', { name: 'Calendar assistant' });
  await put('/v1/admin/policies/assistant-calendar', { agents: ['mcp-1'], integrations: [integration], effect: 'allow' });
  return {
    v,
    provider,
    integration,
    admin,
    agentToken: (user, agent = 'mcp-1', integrations = [integration]) => v.issuer.agentToken({ tenant: T, user, agent, integrations }),
    browser: () => new UserAgent((url) => (url.startsWith(PUBLIC) ? v.url + url.slice(PUBLIC.length) : url)),
    async close() {
      await v.close();
      await provider.close();
    },
  };
}

/**
 * The "Team Calendar" integration at a test provider as the browser tests connect it: Google-style
 * offline consent, identity from the ID token; `providerOptions` add to its provider options.
 */
export function calendarIntegration(provider: TestProvider, providerOptions: Record<string, unknown> = {}) {
  return {
    provider: 'custom-oauth2',
    display_name: 'Team Calendar',
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
    authorize_url: `${provider.url}/auth`,
    token_url: `${provider.url}/token`,
    scopes: ['openid', 'email', 'calendar.read'],
    provider_options: {
      issuer: provider.issuer,
      require_iss: true,
      identity: { source: 'id_token', subject: 'sub', email: 'email' },
      authorize_params: { access_type: 'offline', prompt: 'consent' },
      ...providerOptions,
    },
  };
}

export async function createSession(
  rig: Rig,
  user: string,
  body: Record<string, unknown> = {},
): Promise<{ url: string; expires_at: string; id: string }> {
  const r = await rig.v.call('POST', '/v1/connect/sessions', {
    token: rig.admin(),
    body: { user, integration: rig.integration, return_url: APP_RETURN, ...body },
  });
  if (r.status !== 201) throw new Error(`connect session: ${r.status} ${r.text}`);
  return r.body;
}

/** Opens a connect URL in `ua` and returns the consent page (its session id and CSRF token). */
export async function openConsent(ua: UserAgent, url: string): Promise<{ sessionId: string; csrf: string; page: string; pageUrl: string }> {
  const claim = await claimLink(ua, url);
  const page = await ua.get(claim.location);
  const form = parseForm(page.body, /\/authorize$|\/api-key$/);
  if (page.status !== 200 || !form) throw new Error(`consent page: ${page.status} ${page.body.slice(0, 300)}`);
  return {
    sessionId: /\/connect\/s\/([0-9a-f-]{36})/.exec(claim.location)![1],
    csrf: form.fields.csrf,
    page: page.body,
    pageUrl: claim.location,
  };
}

/** Opens a connect link (a page that does not use it up) and presses Continue: the 303 to the consent page. */
export async function claimLink(ua: UserAgent, url: string): Promise<Hop & { location: string }> {
  const opened = await ua.get(url);
  const form = parseForm(opened.body, /\/connect\/[A-Za-z0-9_-]{43}$/);
  if (opened.status !== 200 || !form) throw new Error(`connect link: ${opened.status} ${opened.body.slice(0, 200)}`);
  const claim = await ua.post(url, form.fields);
  if (claim.status !== 303 || !claim.location) throw new Error(`claim: ${claim.status} ${claim.body.slice(0, 200)}`);
  return { ...claim, location: claim.location };
}

/** Clicks Connect: returns the authorization request the vault redirected the browser to. */
export async function clickConnect(ua: UserAgent, c: { sessionId: string; csrf: string }): Promise<string> {
  const r = await ua.post(`${PUBLIC}/connect/s/${c.sessionId}/authorize`, { csrf: c.csrf });
  if (r.status !== 303 || !r.location) throw new Error(`authorize: ${r.status} ${r.body.slice(0, 300)}`);
  return r.location;
}

/** The whole flow over HTTP for `user`: returns the vault's final redirect (to the app's return URL). */
export async function connectOverHttp(
  rig: Rig,
  user: string,
  opts: { login?: string; session?: Record<string, unknown> } = {},
): Promise<string> {
  const ua = rig.browser();
  const s = await createSession(rig, user, opts.session);
  const consent = await openConsent(ua, s.url);
  const authorize = await clickConnect(ua, consent);
  const callback = await ua.authorizeAt(authorize, CALLBACK, opts.login ?? user);
  const done = await ua.get(callback);
  if (done.status !== 303 || !done.location) throw new Error(`callback: ${done.status} ${done.body.slice(0, 400)}`);
  return done.location;
}

export async function auditOf(rig: Rig, action: string): Promise<any[]> {
  const r = await rig.v.call('GET', `/v1/admin/audit?action=${action}&limit=100`, { token: rig.admin() });
  return r.body.events;
}
