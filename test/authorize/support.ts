import { createHash, randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * A native MCP client's side, on loopback: `/callback` records what the authorization server
 * sent back, other paths are served from `routes` (Client ID Metadata Documents and bad ones).
 */
export class ClientSide {
  readonly callbacks: URLSearchParams[] = [];
  readonly routes = new Map<string, (res: ServerResponse) => void>();
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/callback') {
        this.callbacks.push(u.searchParams);
        return void res.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.');
      }
      const route = this.routes.get(u.pathname);
      if (route) return route(res);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  json(path: string, body: unknown, headers: Record<string, string> = {}): string {
    this.routes.set(path, (res) => res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body)));
    return this.url + path;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** POST /oauth2/token, form-encoded. */
export async function tokenCall(
  vaultUrl: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${vaultUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: await res.json() };
}

export const decodeJwt = (t: string) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());
