import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { OutboundPolicy } from './address-policy';
import { OutboundError, ProviderHttpClient, ResolveAll } from './provider-http.client';

/** The one provider HTTP client: no redirects, time and size caps, every resolved address checked (SECURITY 18, 26). */
describe('ProviderHttpClient', () => {
  let server: Server;
  let port: number;
  let hits: string[];
  /** What the server saw, in order: a connection, bytes arriving on it. */
  let wire: string[];
  const servers: Server[] = [];

  beforeAll(async () => {
    hits = [];
    server = createServer((req, res) => {
      hits.push(req.url!);
      if (req.url === '/redirect') res.writeHead(302, { location: `http://127.0.0.1:${port}/internal` }).end();
      else if (req.url === '/big') res.end(Buffer.alloc(300 * 1024, 'a'));
      else if (req.url === '/hang')
        return; // never answers
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    server.on('connection', (sock) => {
      wire.push('connection');
      sock.on('data', () => wire.push('data'));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => servers.forEach((s) => s.closeAllConnections?.() ?? s.close()));
  beforeEach(() => {
    hits = [];
    wire = [];
  });

  const names: Record<string, string[]> = {
    'rebind.test': ['93.184.216.34', '127.0.0.1'],
    'idp.internal': ['127.0.0.1'],
    'meta.test': ['169.254.169.254'],
    'mapped.test': ['::ffff:7f00:1'],
  };
  const resolve: ResolveAll = async (host) => {
    if (!names[host]) throw new Error('ENOTFOUND');
    return names[host].map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  const client = (allow: string[], timeoutMs = 2000) => new ProviderHttpClient(new OutboundPolicy(allow), { timeoutMs, resolve });
  const kind = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      return err instanceof OutboundError ? err.kind : `unexpected ${String(err)}`;
    }
  };

  it('never follows a redirect: the 302 comes back as it is', async () => {
    const res = await client(['127.0.0.1']).request({ method: 'POST', url: `http://127.0.0.1:${port}/redirect`, body: 'x=1' });
    expect(res.status).toBe(302);
    expect(hits).toEqual(['/redirect']);
  });

  it('caps the response size and the time', async () => {
    expect(await kind(client(['127.0.0.1']).request({ method: 'GET', url: `http://127.0.0.1:${port}/big` }))).toBe('too_large');
    expect(await kind(client(['127.0.0.1'], 200).request({ method: 'GET', url: `http://127.0.0.1:${port}/hang` }))).toBe('timeout');
  });

  it('refuses a name when any of its addresses is private (a rebinding name), before connecting', async () => {
    expect(await kind(client([]).request({ method: 'GET', url: `https://rebind.test:${port}/x` }))).toBe('blocked');
    expect(await kind(client([]).request({ method: 'GET', url: 'https://meta.test/latest/meta-data/' }))).toBe('blocked');
    expect(await kind(client([]).request({ method: 'GET', url: `https://mapped.test:${port}/x` }))).toBe('blocked');
    expect(await kind(client([]).preflight('https://meta.test/x'))).toBe('blocked');
    expect(hits).toEqual([]);
  });

  it('IP literals are checked too; plain http only to allowlisted hosts; no user info', async () => {
    expect(await kind(client([]).request({ method: 'GET', url: `https://127.0.0.1:${port}/x` }))).toBe('blocked');
    expect(await kind(client([]).request({ method: 'GET', url: `https://[::ffff:127.0.0.1]:${port}/x` }))).toBe('blocked');
    expect(await kind(client([]).request({ method: 'GET', url: 'http://93.184.216.34/x' }))).toBe('blocked');
    expect(await kind(client(['127.0.0.1']).request({ method: 'GET', url: `http://user:pw@127.0.0.1:${port}/x` }))).toBe('invalid_url');
    expect(hits).toEqual([]);
  });

  it('an allowlisted host name reaches its private address', async () => {
    const res = await client(['idp.internal']).request({ method: 'GET', url: `http://idp.internal:${port}/ok` });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ ok: true });
  });

  it('open connects and sends nothing; send sends on that connection; close sends nothing (issue 15)', async () => {
    const c = client(['127.0.0.1']);
    const opened = await c.open({ method: 'POST', url: `http://127.0.0.1:${port}/token`, body: 'grant_type=refresh_token' });
    await new Promise((r) => setTimeout(r, 50));
    expect(wire).toEqual(['connection']);
    expect(hits).toEqual([]);
    const res = await opened.send();
    expect(res.status).toBe(200);
    expect(new Set(wire)).toEqual(new Set(['connection', 'data'])); // on the one connection opened before
    expect(wire[0]).toBe('connection');
    expect(hits).toEqual(['/token']);

    const unused = await c.open({ method: 'POST', url: `http://127.0.0.1:${port}/token`, body: 'x=1' });
    unused.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(hits).toEqual(['/token']);
    expect(await kind(unused.send())).toBe('network');
  });

  it('an opened connection nobody sends on is closed after the timeout; a refused connection fails the open', async () => {
    const idle = await client(['127.0.0.1'], 100).open({ method: 'GET', url: `http://127.0.0.1:${port}/ok` });
    await new Promise((r) => setTimeout(r, 250));
    expect(await kind(idle.send())).toBe('timeout');
    expect(hits).toEqual([]);
    expect(await kind(client(['127.0.0.1']).open({ method: 'GET', url: 'http://127.0.0.1:9/x' }))).toBe('network');
  });

  it('open checks every address as request does, before connecting', async () => {
    expect(await kind(client([]).open({ method: 'GET', url: `https://rebind.test:${port}/x` }))).toBe('blocked');
    expect(await kind(client([]).open({ method: 'GET', url: `https://127.0.0.1:${port}/x` }))).toBe('blocked');
    expect(await kind(client([]).open({ method: 'GET', url: `https://mapped.test:${port}/x` }))).toBe('blocked');
    expect(await kind(client([]).open({ method: 'GET', url: `http://93.184.216.34/x` }))).toBe('blocked');
    expect(wire).toEqual([]);
  });

  it('a failed call names the failure and the host, never the path, query, headers or body (SECURITY 26)', async () => {
    const err = await client(['127.0.0.1'])
      .request({
        method: 'POST',
        url: 'http://127.0.0.1:9/token?code=code-canary',
        headers: { authorization: 'Basic auth-canary' },
        body: 'client_secret=secret-canary',
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundError);
    const rendered = `${String(err)} ${(err as Error).stack} ${inspect(err, { showHidden: true, depth: 10 })} ${JSON.stringify(err)}`;
    expect(rendered).not.toMatch(/canary/);
    expect((err as Error).message).toBe('provider call to 127.0.0.1 failed: network');
    expect((err as Error).cause).toBeUndefined();
  });
});
