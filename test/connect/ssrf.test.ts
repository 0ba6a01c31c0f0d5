import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, createServer as createTcpServer, Server as TcpServer } from 'node:net';
import { startTestVault, TestVault } from '../support/vault';
import { UserAgent } from '../support/oidc-provider/user-agent';
import { CALLBACK, PUBLIC, T } from './support';

const SECRET = 'cs-canary-ssrf-6b1d9e';

/** Counts every connection (and the bytes) that reaches it: nothing should. */
async function canary(host: string): Promise<{ server: TcpServer; port: number; hits: () => number; seen: () => string }> {
  let hits = 0;
  let seen = '';
  const server = createTcpServer((s) => {
    hits += 1;
    s.on('data', (d) => (seen += d.toString('latin1')));
    s.on('error', () => undefined);
    setTimeout(() => s.destroy(), 200);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits, seen: () => seen };
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Drives a consent page up to the Connect click for an integration; returns that click's response. */
async function clickConnect(
  v: TestVault,
  integration: string,
): Promise<{ status: number; body: string; location?: string; ua: UserAgent }> {
  const s = await v.call('POST', '/v1/connect/sessions', { token: v.issuer.adminToken(T), body: { user: 'alice', integration } });
  const ua = new UserAgent((u) => (u.startsWith(PUBLIC) ? v.url + u.slice(PUBLIC.length) : u));
  const opened = await ua.get(s.body.url);
  const claim = await ua.post(s.body.url, { csrf: /name="csrf" value="([^"]+)"/.exec(opened.body)![1] });
  const page = await ua.get(claim.location!);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1];
  const hop = await ua.post(`${PUBLIC}${new URL(claim.location!).pathname}/authorize`, { csrf });
  return { status: hop.status, body: hop.body, location: hop.location, ua };
}

/** SECURITY 18: custom provider URLs that reach internal addresses are blocked at connect time; no secret is sent. */
describe('SSRF protection for custom providers (SECURITY 18)', () => {
  let v: TestVault;
  let loop4: Awaited<ReturnType<typeof canary>>;
  let loop6: Awaited<ReturnType<typeof canary>> | undefined;

  beforeAll(async () => {
    v = await startTestVault(); // no OUTBOUND_ALLOW_HOSTS: nothing private is reachable
    loop4 = await canary('127.0.0.1');
    loop6 = await canary('::1').catch(() => undefined);
  });
  afterAll(async () => {
    await v?.close();
    loop4?.server.close();
    loop6?.server.close();
  });

  it(
    'token URLs resolving to loopback, link-local, private ranges or ::ffff: forms → refused at Connect; nothing ' + 'reaches them',
    async () => {
      const p = loop4.port;
      const corpus = [
        `https://localhost:${p}/token`,
        `https://127.0.0.1:${p}/token`,
        `https://[::1]:${loop6?.port ?? p}/token`,
        `https://[::ffff:127.0.0.1]:${p}/token`,
        `https://[::ffff:7f00:1]:${p}/token`,
        'https://169.254.169.254/latest/meta-data/',
        'https://[::ffff:169.254.169.254]/latest/meta-data/',
        'https://[::ffff:a9fe:a9fe]/token',
        'https://10.0.0.7/token',
        'https://172.16.5.4/token',
        'https://192.168.1.1/token',
        'https://100.64.0.1/token',
        'https://[fe80::1]/token',
        'https://[fd00::1]/token',
        'https://0.0.0.0/token',
        `https://0x7f.0.0.1:${p}/token`,
        'https://[64:ff9b::a9fe:a9fe]/token',
        // Issue 14 §5: SIIT, local-use NAT64, 6to4 and Teredo (client 127.0.0.1 = NOT 80ff:fffe), documentation 3fff::/20.
        `https://[::ffff:0:7f00:1]:${p}/token`,
        'https://[64:ff9b:1::a9fe:a9fe]/token',
        `https://[2002:7f00:1::1]:${p}/token`,
        'https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/token',
        'https://[3fff::1]/token',
      ];
      const outcomes: Array<[string, number]> = [];
      let putRefused = 0;
      for (const [i, tokenUrl] of corpus.entries()) {
        const name = `custom-${i}`;
        const put = await v.call('PUT', `/v1/admin/integrations/${name}`, {
          token: v.issuer.adminToken(T),
          body: {
            provider: 'custom-oauth2',
            client_id: 'c',
            client_secret: SECRET,
            authorize_url: 'https://idp.example/authorize',
            token_url: tokenUrl,
          },
        });
        if (put.status === 400) {
          outcomes.push([tokenUrl, 400]); // refused already when the admin wrote it
          putRefused += 1;
          continue;
        }
        expect(put.status).toBe(201);
        const hop = await clickConnect(v, name);
        outcomes.push([tokenUrl, hop.status]);
        expect(hop.location).toBeUndefined(); // the user is not sent to the provider
        expect(hop.body).toContain('not allowed');
      }
      expect(outcomes.filter(([, s]) => s !== 400)).toEqual([]);
      expect(loop4.hits()).toBe(0);
      expect(loop6?.hits() ?? 0).toBe(0);
      // Each refusal at Connect is audited with its reason.
      const atConnect = outcomes.length - putRefused;
      expect(atConnect).toBeGreaterThan(10);
      const rows = await v.db.ds.query(
        `SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'connection.connect' AND reason = 'outbound_blocked'`,
      );
      expect(rows[0].n).toBe(atConnect);
    },
  );
});

describe('provider calls never follow a redirect (SECURITY 18)', () => {
  let v: TestVault;
  let internal: Awaited<ReturnType<typeof canary>>;
  let fake: { server: Server; url: string };

  beforeAll(async () => {
    internal = await canary('127.0.0.2');
    // A provider on an allowlisted host whose token endpoint redirects to an internal address.
    fake = await listen((req, res) => {
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/auth') {
        res.writeHead(302, { location: `${CALLBACK}?code=abc&state=${u.searchParams.get('state')}` }).end();
      } else {
        res.writeHead(307, { location: `http://127.0.0.2:${internal.port}/steal` }).end();
      }
    });
    v = await startTestVault({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1' });
    const put = await v.call('PUT', '/v1/admin/integrations/redirector', {
      token: v.issuer.adminToken(T),
      body: {
        provider: 'custom-oauth2',
        client_id: 'c',
        client_secret: SECRET,
        authorize_url: `${fake.url}/auth`,
        token_url: `${fake.url}/token`,
      },
    });
    expect(put.status).toBe(201);
  });
  afterAll(async () => {
    await v?.close();
    internal?.server.close();
    fake?.server.close();
  });

  it('a 307 from the token endpoint to an internal address is not followed; the secret goes nowhere else', async () => {
    const hop = await clickConnect(v, 'redirector');
    expect(hop.status).toBe(303);
    const back = await hop.ua.get(hop.location!); // the fake provider answers at once
    const callback = await hop.ua.get(back.location!);
    expect(callback.status).toBe(503);
    expect(callback.body).not.toContain(SECRET);
    await new Promise((r) => setTimeout(r, 100));
    expect(internal.hits()).toBe(0);
    expect(internal.seen()).not.toContain(SECRET);
    const [e] = await v.db.ds.query(
      `SELECT reason, details FROM vault.audit_events WHERE action = 'connection.connect' ORDER BY seq DESC LIMIT 1`,
    );
    expect(e).toMatchObject({ reason: 'provider_error', details: expect.objectContaining({ provider_error: 'unexpected_redirect' }) });
  });
});
