import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { Page } from 'playwright-core';
import { ProtectedMcpServer, startProtectedMcpServer } from '../../examples/mcp-server/http-server';
import { browserAvailable, BrowserWorld, itInBrowserFor, providerLogin, startBrowserWorld } from '../support/browser-world';
import { freePort } from '../support/net';
import { TestProvider } from '../support/oidc-provider';
import { TestVault } from '../support/vault';
import { ClientSide, decodeJwt } from './support';

const itInBrowser = itInBrowserFor('test/authorize/mcp-sdk.test.ts');
const T = 'acme';

/** The MCP SDK client's OAuth provider, in memory; the "browser" it opens is chromium, driven below. */
class MemoryProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = '';
  authorizationUrl?: URL;
  constructor(readonly redirectUrl: string) {}
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'SDK example client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(i: OAuthClientInformationMixed) {
    this.info = i;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(t: OAuthTokens) {
    this.saved = t;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/**
 * Issue 19 §3: a Streamable-HTTP MCP server protected by the vault (examples/mcp-server/http-server.ts)
 * and the MCP SDK's own client with its OAuth support: 401 + resource_metadata → RFC 9728 → the
 * vault's RFC 8414 metadata → Dynamic Client Registration → /oauth2/authorize with PKCE and resource
 * → sign-in and consent in chromium → code → token → the tool call carries the user; the server,
 * itself an agent accepting its own audience, exchanges that token at the vault for her CRM key.
 */
describe('an MCP server protected by the vault, reached by the MCP SDK client', () => {
  let world: BrowserWorld;
  let v: TestVault;
  let provider: TestProvider;
  let page: Page;
  let base: string;
  let mcp: ProtectedMcpServer;
  let callbacks: ClientSide;

  beforeAll(async () => {
    if (!browserAvailable) return;
    callbacks = await new ClientSide().start();
    world = await startBrowserWorld({
      tenant: T,
      provider: { mode: 'login', roles: { alice: ['analyst'] } },
      callback: '/auth/callback',
      env: { VAULT_DEFAULT_TENANT: T, OAUTH_DCR_TENANTS: T },
    });
    ({ v, provider, page, base } = world);
    const { put } = world;
    // The MCP server is also an agent: the user's token for its own URL is what it exchanges (docs/agents.md).
    const mcpPort = await freePort();
    const agent = await put('/v1/admin/agents/tools-mcp', {
      name: 'Internal tools MCP server',
      auth_method: 'client_secret_basic',
      accepted_audiences: [`http://127.0.0.1:${mcpPort}/mcp`],
    });
    await put('/v1/admin/integrations/crm-api', { provider: 'api_key', display_name: 'CRM API' });
    await put('/v1/admin/connections/crm-api/users/alice', { api_key: 'crm-key-alice-canary' });
    await put('/v1/admin/policies/tools-crm', { agents: ['tools-mcp'], integrations: ['crm-api'], effect: 'allow' });
    mcp = await startProtectedMcpServer({
      vault: base,
      tenant: T,
      port: mcpPort,
      downstream: { url: base, clientId: 'tools-mcp', clientSecret: agent.client_secret, integration: 'crm-api' },
    });
    await world.userLogin({ scopes: ['openid', 'email', 'profile'], roles_claim: 'roles' });
    await put('/v1/admin/resources/tools', {
      identifier: mcp.resource,
      display_name: 'Internal tools',
      scopes: { 'tools:read': { description: 'Use the internal tools', roles_any: ['analyst'] } },
    });
  }, 60_000);
  afterAll(async () => {
    await mcp?.close();
    await world?.close();
    await callbacks?.close();
  });

  itInBrowser(
    'the SDK client registers, the user consents in the browser, the tool runs as her and fetches her credential downstream',
    async () => {
      const oauth = new MemoryProvider(`${callbacks.url}/callback`);
      const client = new Client({ name: 'sdk-test', version: '1.0.0' });
      await expect(
        client.connect(new StreamableHTTPClientTransport(new URL(mcp.resource), { authProvider: oauth })),
      ).rejects.toBeInstanceOf(UnauthorizedError);
      expect(oauth.info?.client_id).toMatch(/^dcr_/);
      const url = oauth.authorizationUrl!;
      expect(url.origin + url.pathname).toBe(`${base}/oauth2/authorize`);
      expect(url.searchParams.get('resource')).toBe(mcp.resource);
      expect(url.searchParams.get('code_challenge_method')).toBe('S256');

      await Promise.all([page.waitForURL(`${provider.url}/**`), page.goto(url.href)]);
      await providerLogin(page, 'alice', `${base}/oauth2/authorize?**`);
      expect(await page.locator('h1').textContent()).toBe('Allow SDK example client to use Internal tools for you?');
      await Promise.all([page.waitForURL(`${callbacks.url}/callback?**`), page.click('button:has-text("Allow")')]);
      const code = callbacks.callbacks.at(-1)!.get('code')!;

      const transport = new StreamableHTTPClientTransport(new URL(mcp.resource), { authProvider: oauth });
      await transport.finishAuth(code);
      expect(decodeJwt(oauth.saved!.access_token)).toMatchObject({ aud: mcp.resource, sub: 'alice', scope: 'tools:read' });
      expect(oauth.saved!.refresh_token).toBeTruthy();
      await client.connect(transport);
      const result = await client.callTool({ name: 'whoami' });
      expect(result.content).toEqual([{ type: 'text', text: 'You are alice; this token allows tools:read.' }]);
      // Downstream: the MCP server exchanges alice's token (for its own audience) for her CRM key.
      const downstream = await client.callTool({ name: 'downstream_credential' });
      expect(downstream.content).toEqual([{ type: 'text', text: 'Got the api_key for crm-api of alice.' }]);
      const [exchange] = await v.db.ds.query(
        `SELECT outcome, agent, subject, details FROM vault.audit_events WHERE tenant = $1 AND action = 'token.exchange' ORDER BY seq DESC LIMIT 1`,
        [T],
      );
      expect(exchange).toMatchObject({
        outcome: 'allowed',
        agent: 'tools-mcp',
        subject: 'alice',
        details: { subject_audience: mcp.resource },
      });
      await client.close();
    },
  );

  itInBrowser('without a token the MCP server answers 401 pointing at its RFC 9728 metadata, which names the vault', async () => {
    const res = await fetch(mcp.resource, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)![1];
    const prm = (await (await fetch(metadataUrl)).json()) as Record<string, unknown>;
    expect(prm).toMatchObject({ resource: mcp.resource, authorization_servers: [base] });
    const forged = await fetch(mcp.resource, { method: 'POST', headers: { authorization: `Bearer ${v.issuer.adminToken(T)}` } });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toContain('invalid_token');
  });
});
