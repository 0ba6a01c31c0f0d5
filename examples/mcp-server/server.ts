/**
 * An example MCP tool server (stdio) that acts for one user through Credential Vault:
 *   node -r ./test/support/register-ts.js examples/mcp-server/server.ts
 * Configuration is environment only (README.md). Nothing but MCP goes to stdout; diagnostics go
 * to stderr and never carry a token or secret.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { VaultClient } from '../../libs/sdk/index';
import { configFromEnv } from './config';
import { getProfile } from './profile-tool';

async function main(): Promise<void> {
  const config = configFromEnv();
  const vault = new VaultClient({
    url: config.vaultUrl,
    publicUrl: config.vaultPublicUrl,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    authMethod: config.authMethod,
  });
  const server = new McpServer({ name: 'credential-vault-example', version: '0.1.0' });
  server.registerTool(
    'get_profile',
    {
      title: 'Get my profile',
      description: `The signed-in user's profile at ${config.integration}, fetched with their own access token from Credential Vault.`,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    () => getProfile({ vault, userToken: config.userToken, integration: config.integration, profileUrl: config.profileUrl }),
  );
  await server.connect(new StdioServerTransport());
  process.stderr.write(`credential-vault-example: serving get_profile for ${config.integration} (vault ${config.vaultUrl})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`credential-vault-example: ${(err as Error)?.message ?? 'failed to start'}\n`);
  process.exit(1);
});
