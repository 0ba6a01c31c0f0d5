import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A rotating OAuth token endpoint over real HTTP (refresh_token grant only), for refresh storms
 * with thousands of connections where a full authorization server per test would be too slow.
 *
 * Every grant is a family of refresh tokens. A refresh rotates the token; presenting a token the
 * family already rotated away revokes the whole family (OAuth 2.1 §6.1, oidc-provider's rotating
 * mode) — unless it arrives within `graceSeconds` of its rotation (Okta's and Auth0's reuse
 * interval, Xero's grace period), which answers with a fresh pair as for the current token.
 *
 * Faults: `delayMs` holds every answer after the refresh is processed (the token has rotated, the
 * caller has not heard), `refuse` answers the next N calls 503 without processing, `accessTtl`
 * picks each issued access token's life.
 */
export interface RotatingProviderOptions {
  clientId: string;
  clientSecret: string;
  graceSeconds: number;
  accessTtl: () => number;
}

interface Family {
  id: number;
  /** This family's reuse grace (the integration it was granted for). */
  graceSeconds: number;
  current: string;
  /** Rotated-away tokens and when they were rotated. */
  previous: Map<string, number>;
  revoked: boolean;
}

export class RotatingProvider {
  private server?: Server;
  url = '';
  readonly families: Family[] = [];
  private readonly byToken = new Map<string, Family>();
  /** Access tokens issued, with their expiry (ms): a release of one of these can be checked for freshness. */
  readonly access = new Map<string, number>();
  /** Every refresh token a request presented (refused or processed): did a call ever reach the provider with it? */
  readonly presented = new Set<string>();
  stats = { requests: 0, refreshed: 0, graceReuses: 0, reuseRevocations: 0, invalidGrant: 0, refused: 0, inflight: 0, responded: 0 };
  faults = { delayMs: 0, refuse: 0 };
  /** Called as a connection is accepted, and as a token request arrives (before it is read or processed). */
  probes: { connection?: () => void; request?: () => void } = {};

  constructor(readonly o: RotatingProviderOptions) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', () => this.probes.connection?.());
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** A new grant: its first tokens, as a connect flow would have stored them. */
  grant(graceSeconds = this.o.graceSeconds): { accessToken: string; refreshToken: string; expiresIn: number } {
    const f: Family = { id: this.families.length, graceSeconds, current: token('rt'), previous: new Map(), revoked: false };
    this.families.push(f);
    this.byToken.set(f.current, f);
    const expiresIn = this.o.accessTtl();
    const accessToken = token('at');
    this.access.set(accessToken, Date.now() + expiresIn * 1000);
    return { accessToken, refreshToken: f.current, expiresIn };
  }

  /** The family a refresh token belongs to. */
  familyOf(rt: string): Family | undefined {
    return this.byToken.get(rt);
  }

  /** Would a refresh with this token work now (without revoking anything)? */
  accepts(rt: string): boolean {
    const f = this.byToken.get(rt);
    return !!f && !f.revoked && f.current === rt;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.probes.request?.();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.url !== '/token' || req.method !== 'POST') return send(404, { error: 'not_found' });
    this.stats.requests += 1;
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const basic =
      `Basic ` + `${Buffer.from(`${encodeURIComponent(this.o.clientId)}:${encodeURIComponent(this.o.clientSecret)}`).toString('base64')}`;
    if (req.headers.authorization !== basic) return send(401, { error: 'invalid_client' });
    if (form.get('grant_type') !== 'refresh_token') return send(400, { error: 'unsupported_grant_type' });
    this.presented.add(form.get('refresh_token') ?? '');
    if (this.faults.refuse > 0) {
      this.faults.refuse -= 1;
      this.stats.refused += 1;
      res.setHeader('retry-after', '1');
      return send(503, { error: 'temporarily_unavailable' });
    }
    const answer = this.refresh(form.get('refresh_token') ?? '');
    this.stats.inflight += 1;
    if (this.faults.delayMs) await new Promise((r) => setTimeout(r, this.faults.delayMs).unref());
    this.stats.inflight -= 1;
    this.stats.responded += 1;
    if (res.destroyed) return;
    if ('error' in answer) return send(400, answer);
    send(200, answer);
  }

  /** Processes one refresh at arrival: the family's state changes now, whether or not the answer is heard. */
  private refresh(rt: string): Record<string, unknown> {
    const f = this.byToken.get(rt);
    const now = Date.now();
    if (!f || f.revoked) {
      this.stats.invalidGrant += 1;
      return { error: 'invalid_grant' };
    }
    if (f.current !== rt) {
      const rotatedAt = f.previous.get(rt)!;
      if (now - rotatedAt > f.graceSeconds * 1000) {
        f.revoked = true;
        this.stats.reuseRevocations += 1;
        this.stats.invalidGrant += 1;
        return { error: 'invalid_grant' };
      }
      this.stats.graceReuses += 1;
    }
    // Rotate: the presented token (current, or a previous one within grace) yields a new current one.
    if (!f.previous.has(f.current)) f.previous.set(f.current, now);
    f.current = token('rt');
    this.byToken.set(f.current, f);
    this.stats.refreshed += 1;
    const expiresIn = this.o.accessTtl();
    const accessToken = token('at');
    this.access.set(accessToken, now + expiresIn * 1000);
    return { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, refresh_token: f.current, scope: 'read' };
  }
}

const token = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`;
