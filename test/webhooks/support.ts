import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { asTenantId } from '../../libs/kernel';
import { TestVault } from '../support/vault';

export { waitFor } from '../keys/support';

/** One request the receiver got, and whether its Standard Webhooks signature verified. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  verified: boolean;
  status: number;
}

type Reply = { status: number; headers?: Record<string, string> } | 'hang';

/**
 * A customer's webhook endpoint (an edge we do not own): a plain node:http server that verifies
 * each delivery the way the Standard Webhooks specification tells receivers to, independently of
 * the vault's code: HMAC-SHA256 with the base64-decoded `whsec_` key over `id.timestamp.body`,
 * compared in constant time against every `v1,` entry of `webhook-signature`. Answers 200 unless
 * `plan(path)` queues other answers for a path.
 */
export class Receiver {
  readonly received: Received[] = [];
  private readonly secrets = new Map<string, string>();
  private readonly plans = new Map<string, Reply[]>();
  private server!: Server;
  url = '';
  /** Every answer waits this long (a slow endpoint keeps deliveries of several dispatchers in flight together). */
  delayMs = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The secret deliveries to `path` must be signed with. */
  trust(path: string, secret: string): void {
    this.secrets.set(path, secret);
  }

  /** The next answers for `path`, in order (then 200 again). */
  plan(path: string, replies: Reply[]): void {
    this.plans.set(path, [...replies]);
  }

  to(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private handle(path: string, headers: IncomingHttpHeaders, body: string, res: ServerResponse): void {
    const reply = this.plans.get(path)?.shift() ?? { status: 200 };
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const entry: Received = {
      path,
      headers,
      body,
      json,
      verified: verify(this.secrets.get(path), headers, body),
      status: reply === 'hang' ? 0 : reply.status,
    };
    this.received.push(entry);
    if (reply === 'hang') return; // never answers: the sender's timeout ends it
    const answer = () => res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers }).end('ok');
    if (this.delayMs) setTimeout(answer, this.delayMs);
    else answer();
  }
}

/** The receiver's check, for a secret of the test's choosing. */
export function verifiesWith(secret: string, r: Received): boolean {
  return verify(secret, r.headers, r.body);
}

function verify(secret: string | undefined, headers: IncomingHttpHeaders, body: string): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sig = headers['webhook-signature'];
  if (!secret || typeof id !== 'string' || typeof ts !== 'string' || typeof sig !== 'string') return false;
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false; // the spec's replay tolerance
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  return sig.split(' ').some((part) => {
    const [version, value] = part.split(',');
    const given = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** Points the tenant's endpoint at `url` through the admin API and returns the one-time secret. */
export async function putEndpoint(v: TestVault, tenant: string, url: string, events: string[] = ['*']): Promise<string> {
  const r = await v.call('PUT', '/v1/admin/webhooks', { token: v.issuer.adminToken(tenant), body: { url, events } });
  if (r.status >= 300) throw new Error(`PUT /v1/admin/webhooks: ${r.status} ${r.text}`);
  return r.body.secret;
}

/** The outbox rows of a tenant, oldest first. */
export async function outboxOf(v: TestVault, tenant: string): Promise<any[]> {
  return v.db.ds.query(
    `SELECT id, event_type, payload, status, attempts, next_attempt_at, last_attempt_at, last_error, lease_owner,
      lease_expires_at, finished_at
       FROM vault.webhook_outbox WHERE tenant = $1 ORDER BY created_at, id`,
    [tenant],
  );
}

/** Settings for a vault whose dispatcher the test drives (`tick()`), reaching the receiver on loopback. */
export const DRIVEN = {
  OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
  WEBHOOKS_IN_PROCESS: 'false',
  WEBHOOK_BACKOFF_BASE_MS: '200',
  WEBHOOK_BACKOFF_MAX_MS: '60000',
  WEBHOOK_MAX_ATTEMPTS: '3',
  WEBHOOK_TIMEOUT_MS: '500',
  WEBHOOK_LEASE_SECONDS: '3',
};

/** An event for the outbox: alice's calendar connection needs re-consent (or, by `type`, was created). */
export function needsReauth(tenant: string, type: 'connection.created' | 'connection.needs_reauth' = 'connection.needs_reauth') {
  return {
    tenant: asTenantId(tenant),
    type,
    data: {
      connection_id: '0b3f3f1e-6c1a-4d55-9f0e-2b9a4d7c1e01',
      integration: 'calendar',
      user: 'alice',
      status: 'needs_reauth',
      error_class: 'terminal:invalid_grant',
    },
  };
}
