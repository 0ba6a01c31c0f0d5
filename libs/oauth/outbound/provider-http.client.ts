import { lookup as dnsLookup, LookupAddress, LookupOptions } from 'node:dns';
import { IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
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
    const u = this.parse(req.url);
    const host = normalizeHost(u.hostname);
    // IP literals never reach `lookup`: they are checked here.
    if (isIP(host) && !this.policy.checkAddress(host).allowed) throw new OutboundError('blocked', host);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
    return new Promise<ProviderResponse>((resolve, reject) => {
      const fail = (kind: OutboundFailure) => {
        clearTimeout(timer);
        reject(new OutboundError(kind, host));
      };
      const r = send(
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
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > this.maxBytes) {
              res.destroy();
              r.destroy();
              fail('too_large');
            } else chunks.push(c);
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              contentType: String(res.headers['content-type'] ?? ''),
              body: Buffer.concat(chunks),
            });
          });
          res.on('error', () => fail('network'));
        },
      );
      const timer = setTimeout(() => {
        r.destroy();
        fail('timeout');
      }, this.opts.timeoutMs);
      r.on('error', (err: NodeJS.ErrnoException) => {
        fail(err.code === 'EBLOCKED' ? 'blocked' : 'network');
      });
      r.end(body);
    });
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
