import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the fake vault saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Hold the answer until this promise settles (single-flight tests). */
  hold?: Promise<unknown>;
}

/**
 * A stand-in for the vault's HTTP surface on a real local socket (unit tests only: the
 * integration tests in test/sdk run against the real vault). `route` answers each request.
 */
export class FakeVault {
  readonly seen: SeenRequest[] = [];
  route: (req: SeenRequest) => Answer = () => ({ status: 404 });
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      this.seen.push(seen);
      const answer = this.route(seen);
      if (answer.hold) await answer.hold;
      const problem = answer.status >= 400 && req.url?.startsWith('/v1/');
      res.writeHead(answer.status, { 'content-type': problem ? 'application/problem+json' : 'application/json', ...answer.headers });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  count(prefix: string): number {
    return this.seen.filter((r) => r.path.startsWith(prefix)).length;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A JWT-shaped token with the given payload (unsigned: the SDK only reads vault tokens it was given). */
export function fakeJwt(payload: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'at+jwt' })}.${part(payload)}.c2lnbmF0dXJl`;
}
