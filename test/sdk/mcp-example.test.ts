import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { join } from 'node:path';
import { connectOverHttp } from '../connect/support';
import { breakGrant, SdkWorld, startSdkWorld } from './support';

const ROOT = join(__dirname, '..', '..');

/**
 * The example MCP server (examples/mcp-server) as a real child process on stdio, driven by the
 * MCP SDK's client: it gets the user's access token from the real vault through the SDK and
 * calls the real authorization server's userinfo endpoint with it.
 */
describe('example MCP server (stdio) using the SDK', () => {
  let w: SdkWorld;
  const open: Array<{ client: Client; stderr: () => string }> = [];

  async function startExample(user: string): Promise<{ client: Client; stderr: () => string }> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['-r', './test/support/register-ts.js', 'examples/mcp-server/server.ts'],
      cwd: ROOT,
      stderr: 'pipe',
      env: {
        ...getDefaultEnvironment(),
        VAULT_URL: w.rig.v.url,
        VAULT_CLIENT_ID: 'mcp-1',
        VAULT_CLIENT_SECRET: w.secret,
        VAULT_USER_TOKEN: w.userToken(user),
        VAULT_INTEGRATION: 'calendar',
        PROFILE_URL: `${w.rig.provider.url}/me`,
      },
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: 'sdk-test', version: '1.0.0' });
    await client.connect(transport);
    const started = { client, stderr: () => stderr };
    open.push(started);
    return started;
  }

  const textOf = (result: Awaited<ReturnType<Client['callTool']>>) =>
    (result.content as Array<{ type: string; text: string }>).map((c) => c.text).join('');

  beforeAll(async () => {
    w = await startSdkWorld();
  });
  afterAll(async () => {
    await Promise.all(open.map((s) => s.client.close()));
    await w?.close();
  });

  it("lists get_profile and answers with the connected user's profile from the provider", async () => {
    const { client, stderr } = await startExample('alice');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['get_profile']);
    expect(tools[0].annotations).toMatchObject({ readOnlyHint: true });

    const result = await client.callTool({ name: 'get_profile', arguments: {} });
    expect(result.isError).toBeFalsy();
    const profile = JSON.parse(textOf(result));
    expect(profile).toMatchObject({ sub: 'alice', email: 'alice@example.test' });
    expect(result.structuredContent).toEqual(profile);

    // Called again: the access token comes from the SDK's cache, the provider is asked again.
    expect(JSON.parse(textOf(await client.callTool({ name: 'get_profile', arguments: {} }))).sub).toBe('alice');
    const released = await w.rig.v.db.ds.query(
      `SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'credential.release' AND outcome = 'allowed' AND subject = 'alice'`,
    );
    expect(released[0].n).toBe(1);
    expect(stderr()).not.toContain(w.secret);
  });

  it('a connection that needs re-authorisation → a tool error carrying the connect URL', async () => {
    await connectOverHttp(w.rig, 'bob');
    await breakGrant(w, 'bob');
    const { client, stderr } = await startExample('bob');
    const result = await client.callTool({ name: 'get_profile', arguments: {} });
    expect(result.isError).toBe(true);
    const url = /https:\/\/vault\.test\.example\/connect\/[A-Za-z0-9_-]{43}/.exec(textOf(result))?.[0];
    expect(url).toBeDefined();
    expect(result._meta).toEqual({ vault: { code: 'needs_reauth', connect_url: url } });
    expect(stderr()).not.toContain(w.secret);
  });

  it('a user with no connection → a tool error with the URL to connect one', async () => {
    const { client } = await startExample('zoe');
    const result = await client.callTool({ name: 'get_profile', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^No calendar account is connected\. Open https:\/\/vault\.test\.example\/connect\/\S+ to connect it/);
  });
});
