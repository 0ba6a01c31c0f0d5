import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';

/** What the proxy has done so far; `live` is the number of connection pairs open now. */
export interface TcpProxyCounters {
  accepted: number;
  refused: number;
  reset: number;
  live: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * A real TCP proxy (node:net) between the vault and Postgres, so that tests cause real
 * network faults rather than mocking the driver:
 * - `resetAll()` tears down every live connection with a TCP RST, both ways (a connection reset mid-request);
 * - `pause()` stops forwarding on every connection, new ones included, without closing anything
 *   (a hung database: the bytes wait in the kernel); `resume()` carries on where it stopped;
 * - `refuseNew(true)` resets new connections at once (a database that is not there).
 *
 * @example
 *   const proxy = await TcpProxy.start(process.env.TEST_DATABASE_URL!);
 *   const v = await startTestVault({}, { databaseUrl: (url) => proxy.rewrite(url) });
 *   proxy.resetAll();
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private paused = false;
  private refusing = false;
  private readonly counts = { accepted: 0, refused: 0, reset: 0 };

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {
    server.on('connection', (client) => this.accept(client));
  }

  /** Listens on a free loopback port, forwarding to the host and port of `targetUrl`. */
  static async start(targetUrl: string): Promise<TcpProxy> {
    const t = new URL(targetUrl);
    const proxy = new TcpProxy(createServer(), { host: t.hostname, port: Number(t.port || 5432) });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `url` (any database on the proxied server) pointed at the proxy instead. */
  rewrite(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  counters(): TcpProxyCounters {
    return { ...this.counts, live: this.pairs.size };
  }

  /** RSTs every live connection, both sides. Returns how many pairs were reset. */
  resetAll(): number {
    const n = this.pairs.size;
    for (const p of [...this.pairs]) this.reset(p);
    return n;
  }

  pause(): void {
    this.paused = true;
    for (const p of this.pairs) {
      p.client.pause();
      p.upstream.pause();
    }
  }

  resume(): void {
    this.paused = false;
    for (const p of this.pairs) {
      p.client.resume();
      p.upstream.resume();
    }
  }

  refuseNew(on: boolean): void {
    this.refusing = on;
  }

  /** Stops listening and resets whatever is still open. */
  async close(): Promise<void> {
    this.resetAll();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.refusing) {
      this.counts.refused += 1;
      client.resetAndDestroy();
      return;
    }
    this.counts.accepted += 1;
    const upstream = connect(this.target.port, this.target.host);
    upstream.on('error', () => undefined);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    this.forward(client, upstream);
    this.forward(upstream, client);
    if (this.paused) {
      client.pause();
      upstream.pause();
    }
  }

  /** Manual forwarding (not pipe) so that pause/resume and backpressure do not fight over the stream. */
  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk) => {
      if (to.destroyed) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (!this.paused) from.resume();
        });
      }
    });
  }

  private reset(p: Pair): void {
    if (!this.pairs.delete(p)) return;
    this.counts.reset += 1;
    for (const s of [p.client, p.upstream]) {
      // resetAndDestroy needs a connected socket; one still connecting is simply destroyed.
      if (s.destroyed) continue;
      if (s.connecting) s.destroy();
      else s.resetAndDestroy();
    }
  }
}
