import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { connectOverHttp, PUBLIC, T } from '../connect/support';
import globalSetup from '../global-setup';
import globalTeardown from '../global-teardown';
import { breakGrant, startSdkWorld } from './support';

/**
 * The Python SDK's test world (sdks/python/tests/conftest.py runs this with
 * `node -r ./test/support/register-ts.js`): the same real vault, Postgres and oidc-provider as
 * test/sdk/sdk.test.ts, plus a loopback control port for what only the test harness can do
 * (mint tokens from the trusted test issuer, connect a user, break a grant, count audited releases). Prints one JSON
 * line when ready; stops when stdin closes.
 */
async function main(): Promise<void> {
  await globalSetup(); // TEST_DATABASE_URL, 127.0.0.1:5432 or an embedded PostgreSQL, as for jest
  // Calendar access tokens live 120 s, so the tests can place a clock inside the vault token's 300 s.
  const w = await startSdkWorld({ accessTokenTtl: 120 });
  const actions: Record<string, (q: URLSearchParams) => Promise<unknown>> = {
    '/user-token': async (q) => ({ token: w.rig.v.issuer.sign({ sub: q.get('sub'), tid: T }, { ttl: Number(q.get('ttl') ?? 300) }) }),
    '/admin-token': async () => ({ token: w.rig.admin() }),
    // An agent's own token from the trusted test issuer (a workload identity): the federated assertion of the jwt-bearer grant.
    '/federated-token': async (q) => ({
      issuer: w.rig.v.issuer.issuer,
      token: w.rig.v.issuer.sign(
        { sub: q.get('sub'), tid: T, ...(q.get('aud') ? { aud: q.get('aud') } : {}) },
        { ttl: Number(q.get('ttl') ?? 300) },
      ),
    }),
    '/connect': async (q) => (await connectOverHttp(w.rig, q.get('sub')!), {}),
    '/break-grant': async (q) => (await breakGrant(w, q.get('sub')!), {}),
    '/releases': async (q) => {
      const sql =
        `SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'credential.release' AND outcome = ` +
        `'allowed' AND subject = $1 AND integration = $2`;
      return { count: (await w.rig.v.db.ds.query(sql, [q.get('sub'), q.get('integration')]))[0].n };
    },
  };
  const control = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const action = actions[url.pathname];
    const answer = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (!action) return answer(404, { error: url.pathname });
    action(url.searchParams).then(
      (body) => answer(200, body),
      (err: Error) => answer(500, { error: err.message }),
    );
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    control.close();
    await w.close();
    await globalTeardown();
    process.exit(0);
  };
  process.stdin.on('end', close).on('close', close).resume();
  process.on('SIGTERM', close);
  const port = (control.address() as AddressInfo).port;
  process.stdout.write(
    JSON.stringify({
      url: w.rig.v.url,
      public_url: PUBLIC,
      client_id: 'mcp-1',
      client_secret: w.secret,
      provider_url: w.rig.provider.url,
      control: `http://127.0.0.1:${port}`,
    }) + '\n',
  );
}

main().catch((err: Error) => {
  process.stderr.write(`python-world: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
