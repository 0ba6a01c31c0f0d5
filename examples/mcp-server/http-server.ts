/**
 * A Streamable-HTTP MCP server protected by Credential Vault (docs/resources.md, "Protect an MCP
 * server with the vault"): it answers 401 with `WWW-Authenticate: Bearer resource_metadata=…`,
 * serves its RFC 9728 metadata naming the vault as authorization server, and accepts the vault's
 * RFC 9068 tokens for its own URL. MCP clients then find the vault, register (DCR or a Client ID
 * Metadata Document), send their user through /oauth2/authorize and come back with a token.
 *
 *   VAULT_PUBLIC_URL=http://localhost:8080 TENANT=default PORT=8091 \
 *     node -r ./test/support/register-ts.js examples/mcp-server/http-server.ts
 *
 * VAULT_CLIENT_ID and VAULT_CLIENT_SECRET (an agent of the vault; VAULT_INTEGRATION, default calendar)
 * add the downstream_credential tool.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { VaultClient } from '../../libs/sdk/index';

export interface ProtectedMcpServer {
  /** The MCP endpoint, and the resource identifier to register in the vault. */
  resource: string;
  close(): Promise<void>;
}

/**
 * `downstream`: this server is also an agent of the vault (with its own URL among its
 * `accepted_audiences`), and its `downstream_credential` tool exchanges the caller's token for the
 * user's credential of `integration` — the article's pattern: the MCP token never leaves this server.
 */
export interface DownstreamOptions {
  /** Where to reach the vault (its `VAULT_PUBLIC_URL` is `vault` above). */
  url: string;
  clientId: string;
  clientSecret: string;
  integration: string;
}

export async function startProtectedMcpServer(o: {
  vault: string;
  tenant: string;
  port?: number;
  downstream?: DownstreamOptions;
}): Promise<ProtectedMcpServer> {
  const d = o.downstream;
  const agent = d && new VaultClient({ url: d.url, publicUrl: o.vault, clientId: d.clientId, clientSecret: d.clientSecret });
  const jwks = createRemoteJWKSet(new URL(`${o.vault}/.well-known/jwks.json`));
  let resource = '';
  let metadataUrl = '';

  /** The vault's token for this server: issuer, audience (this server), type, tenant. */
  async function authenticate(req: IncomingMessage): Promise<AuthInfo | undefined> {
    const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return undefined;
    const verified = await jwtVerify(token, jwks, { issuer: o.vault, audience: resource, typ: 'at+jwt' }).catch(() => undefined);
    const claims = verified?.payload;
    if (!claims || claims.tid !== o.tenant) return undefined;
    const scopes = String(claims.scope ?? '').split(' ');
    return { token, clientId: String(claims.client_id), scopes, expiresAt: claims.exp, extra: { user: claims.sub } };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/.well-known/oauth-protected-resource/mcp' || path === '/.well-known/oauth-protected-resource') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({
          resource,
          authorization_servers: [o.vault],
          scopes_supported: ['tools:read'],
          bearer_methods_supported: ['header'],
        }),
      );
    }
    if (path !== '/mcp') return void res.writeHead(404).end();
    const auth = await authenticate(req);
    if (!auth) {
      const error = req.headers.authorization ? ', error="invalid_token"' : '';
      return void res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${metadataUrl}"${error}` }).end();
    }
    // Stateless: one MCP server per request, the caller's identity passed to the tools.
    const mcp = new McpServer({ name: 'vault-protected-example', version: '0.1.0' });
    mcp.registerTool('whoami', { description: 'Who the vault says is calling, and what the token allows' }, (extra) => ({
      content: [
        { type: 'text', text: `You are ${String(extra.authInfo?.extra?.user)}; this token allows ${extra.authInfo?.scopes.join(' ')}.` },
      ],
    }));
    if (agent && d) {
      mcp.registerTool(
        'downstream_credential',
        { description: `Fetches the user's ${d.integration} credential from the vault (token exchange), never showing it` },
        async (extra) => {
          const release = await agent.release(d.integration, { userToken: extra.authInfo!.token });
          return {
            content: [{ type: 'text', text: `Got the ${release.type} for ${d.integration} of ${String(extra.authInfo?.extra?.user)}.` }],
          };
        },
      );
    }
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close());
    await mcp.connect(transport);
    await transport.handleRequest(Object.assign(req, { auth }), res);
  }

  const server: Server = createServer((req, res) => {
    // Errors end this request only; the server keeps serving.
    handle(req, res).catch(() => (res.headersSent ? res.end() : res.writeHead(500).end()));
  });
  await new Promise<void>((r) => server.listen(o.port ?? 0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  resource = `${url}/mcp`;
  metadataUrl = `${url}/.well-known/oauth-protected-resource/mcp`;
  return { resource, close: () => new Promise((r) => server.close(() => r())) };
}

if (require.main === module) {
  const env = process.env;
  const vault = env.VAULT_PUBLIC_URL ?? 'http://localhost:8080';
  // With an agent registration in the environment, the downstream_credential tool too (docs/resources.md step 5).
  const downstream =
    env.VAULT_CLIENT_ID && env.VAULT_CLIENT_SECRET
      ? {
          url: env.VAULT_URL ?? vault,
          clientId: env.VAULT_CLIENT_ID,
          clientSecret: env.VAULT_CLIENT_SECRET,
          integration: env.VAULT_INTEGRATION ?? 'calendar',
        }
      : undefined;
  startProtectedMcpServer({ vault, tenant: env.TENANT ?? 'default', port: Number(env.PORT ?? 8091), downstream }).then(
    (s) => process.stderr.write(`MCP server at ${s.resource}; register it in the vault as a resource with this identifier\n`),
    (err: unknown) => {
      process.stderr.write(`failed to start: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
