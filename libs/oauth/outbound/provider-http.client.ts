import { lookup as dnsLookup, LookupAddress, LookupOptions } from 'node:dns';
import { IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { TLSSocket } from 'node:tls';
import { normalizeHost, OutboundPolicy } from './address-policy';

export interface ProviderRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface ProviderResponse {
  status: number;
  headers: IncomingHttpHeaders;
  contentType: string;
  body: Buffer;
}

/** A request whose connection is open and nothing sent yet (`ProviderHttpClient.open`). */
export interface OpenRequest {
  /** Sends the request on the open connection: the whole response, or an `OutboundError`. Once. */
  send(): Promise<ProviderResponse>;
  /** Closes the connection unused (nothing is sent); a no-op once sent. */
  close(): void;
}

export type OutboundFailure = 'blocked' | 'invalid_url' | 'timeout' | 'network' | 'too_large';

/**
 * A provider call that did not produce a response. Its message names the failure class and
 * the host, never the path, query, headers or body (they carry codes and secrets: SECURITY 26),
 * and it has no `cause`.
 */
export class OutboundError extends Error {
  constructor(
    readonly kind: OutboundFailure,
    readonly host: string,
  ) {
    super(`provider call to ${host} failed: ${kind}`);
    this.name = 'OutboundError';
  }
}

export type ResolveAll = (hostname: string) => Promise<LookupAddress[]>;

export interface ProviderHttpOptions {
  timeoutMs: number;
  maxResponseBytes?: number;
  /** Name resolution (tests inject one); defaults to the system resolver. */
  resolve?: ResolveAll;
}

const systemResolve: ResolveAll = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))),
  );

class BlockedAddress extends Error {
  readonly code = 'EBLOCKED';
}

/**
 * The one HTTP client for provider calls (token, refresh, revocation, userinfo). It never
 * follows a redirect (a 3xx is returned as is, so a redirect to an internal address is never
 * reached), caps time and response size, and checks every address a host name resolves to
 * when the socket is opened, so a name cannot pass a check and then rebind to a private address.
 */
export class ProviderHttpClient {
  private readonly maxBytes: number;
  private readonly resolveAll: ResolveAll;

  constructor(
    readonly policy: OutboundPolicy,
    private readonly opts: ProviderHttpOptions,
  ) {
    this.maxBytes = opts.maxResponseBytes ?? 256 * 1024;
    this.resolveAll = opts.resolve ?? systemResolve;
  }

  /** Checks a URL as a request to it would (scheme, host, every resolved address) without sending anything. */
  async preflight(url: string): Promise<void> {
    const u = this.parse(url);
    await this.addressesFor(u.hostname);
  }

  async request(req: ProviderRequest): Promise<ProviderResponse> {
    return (await this.open(req)).send();
  }

  /**
   * Opens the connection `req` will go over (the name resolved, every address checked, connected,
   * TLS done) and sends nothing: the refresher writes its call-start mark in between, so that a
   * process killed before the request leaves has lost only a round trip's worth of window, and a
   * failure to connect is known to have reached nobody. `send` or `close` must follow; a connection
   * left idle is closed after the timeout. The timeout covers connecting and the exchange together,
   * as for `request`, not the time between them.
   */
  async open(req: ProviderRequest): Promise<OpenRequest> {
    const u = this.parse(req.url);
    const host = normalizeHost(u.hostname);
    // IP literals never reach `lookup`: they are checked here.
    if (isIP(host) && !this.policy.checkAddress(host).allowed) throw new OutboundError('blocked', host);
    const sendOn = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
    const began = Date.now();
    let failure: OutboundFailure | undefined;
    let sent = false;
    // Whoever waits now: the open until connected, then `send`.
    let settle: { reject: (err: OutboundError) => void; resolve?: (res: ProviderResponse) => void } | undefined;
    let timer: NodeJS.Timeout;
    const fail = (kind: OutboundFailure) => {
      if (failure) return;
      failure = kind;
      clearTimeout(timer);
      r.destroy();
      settle?.reject(new OutboundError(kind, host));
    };
    const expireAfter = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => fail('timeout'), ms);
    };
    const r = sendOn(
      {
        method: req.method,
        hostname: host,
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        headers: { 'user-agent': 'credential-vault', ...req.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        agent: false,
        lookup: this.lookup(host),
      },
      (res) => {
        // An answer before the request was sent: the server gave up on the idle connection.
        if (!sent) return fail('network');
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxBytes) {
            res.destroy();
            fail('too_large');
          } else chunks.push(c);
        });
        res.on('end', () => {
          if (failure) return;
          clearTimeout(timer);
          settle?.resolve?.({
            status: res.statusCode ?? 0,
            headers: res.headers,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks),
          });
        });
        res.on('error', () => fail('network'));
      },
    );
    r.on('error', (err: NodeJS.ErrnoException) => fail(err.code === 'EBLOCKED' ? 'blocked' : 'network'));
    expireAfter(this.opts.timeoutMs);
    await new Promise<void>((resolve, reject) => {
      settle = { reject };
      // Nothing is written before `end`: the headers wait with the body.
      r.once('socket', (s) => s.once(s instanceof TLSSocket ? 'secureConnect' : 'connect', () => resolve()));
    });
    const connectMs = Date.now() - began;
    settle = undefined;
    expireAfter(this.opts.timeoutMs); // an open connection nobody sends on or closes
    return {
      send: () => {
        if (sent) throw new Error('provider request: sent twice');
        sent = true;
        if (failure) return Promise.reject(new OutboundError(failure, host));
        return new Promise<ProviderResponse>((resolve, reject) => {
          settle = { resolve, reject };
          expireAfter(Math.max(1, this.opts.timeoutMs - connectMs));
          r.end(body);
        });
      },
      close: () => {
        if (sent || failure) return;
        failure = 'network';
        clearTimeout(timer);
        r.destroy();
      },
    };
  }

  private parse(url: string): URL {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new OutboundError('invalid_url', '-');
    }
    const host = normalizeHost(u.hostname);
    if (u.username || u.password || !host) throw new OutboundError('invalid_url', host || '-');
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && this.policy.allowsPlainHttp(host))) throw new OutboundError('blocked', host);
    return u;
  }

  /** Every address of `host` must pass: a name that resolves to one public and one private address is refused. */
  private async addressesFor(hostname: string): Promise<LookupAddress[]> {
    const host = normalizeHost(hostname);
    if (isIP(host)) {
      if (!this.policy.checkAddress(host).allowed) throw new OutboundError('blocked', host);
      return [{ address: host, family: isIP(host) }];
    }
    let addrs: LookupAddress[];
    try {
      addrs = await this.resolveAll(host);
    } catch {
      throw new OutboundError('network', host);
    }
    if (!addrs.length || addrs.some((a) => !this.policy.checkAddress(a.address, host).allowed)) throw new OutboundError('blocked', host);
    return addrs;
  }

  private lookup(host: string) {
    return (_name: string, options: LookupOptions, callback: (...args: any[]) => void): void => {
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
      this.addressesFor(host).then(
        (addrs) => {
          const usable = family ? addrs.filter((a) => a.family === family) : addrs;
          if (!usable.length) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }));
          if (options.all) callback(null, usable);
          else callback(null, usable[0].address, usable[0].family);
        },
        (err: OutboundError) =>
          callback(
            err.kind === 'blocked' ? new BlockedAddress('blocked') : Object.assign(new Error('lookup failed'), { code: 'ENOTFOUND' }),
          ),
      );
    };
  }
}
