import { release, RevocationWorld, startRevocationWorld, until, vaultToken } from './support';

/**
 * An API process holds one LISTEN connection, shared by its channels (revocations from start-up,
 * policy changes from the first release), not one per feature: with several processes on one
 * database, held connections count against max_connections. pg_stat_activity shows only a
 * connection's last statement, so the count is of connections whose last statement is a LISTEN
 * (the LISTEN connection runs nothing else); that both channels are heard on it is shown by a
 * NOTIFY on each taking effect where nothing else could have told the process.
 */
describe('LISTEN connections of an API process', () => {
  let w: RevocationWorld;
  beforeAll(async () => {
    w = await startRevocationWorld();
  });
  afterAll(() => w?.close());

  const listening = async (): Promise<string[]> =>
    (
      await w.v.db.ds.query(
        `SELECT query FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'credential-vault-api' ` +
          `AND query LIKE 'LISTEN %'`,
      )
    ).map((r: { query: string }) => r.query);

  it('is exactly one, and it carries both the revocation and the policy channel', async () => {
    const token = await vaultToken(w, 'mcp-1');
    // A release reads the policy snapshots: the policy feed subscribes (and its channel joins the connection).
    expect((await release(w.v, token)).status).toBe(200);
    await until(async () => (await listening()).includes('LISTEN vault_policy_changed'), 5000, 'the policy channel LISTENed');
    expect(await listening()).toEqual(['LISTEN vault_policy_changed']);

    // Policy channel: a deny written with the trigger off is not seen (the snapshot is cached, which it
    // only is while the channel is live) until a NOTIFY on the channel says the tenant changed.
    await w.v.db.ds.query(`ALTER TABLE policies DISABLE TRIGGER policies_changed`);
    try {
      await w.v.db.ds.query(
        `INSERT INTO policies (tenant, name, effect, agents, integrations) VALUES ('acme', 'deny-all', 'deny', '{*}', '{*}')`,
      );
    } finally {
      await w.v.db.ds.query(`ALTER TABLE policies ENABLE TRIGGER policies_changed`);
    }
    expect((await release(w.v, token)).status).toBe(200);
    await w.v.db.ds.query(`SELECT pg_notify('vault_policy_changed', 'acme')`);
    await until(async () => (await release(w.v, token)).status === 403, 1000, 'the deny after the NOTIFY');
    await w.v.db.ds.query(`DELETE FROM policies WHERE tenant = 'acme' AND name = 'deny-all'`);
    await until(async () => (await release(w.v, token)).status === 200, 1000, 'the deny removed');

    // Revocation channel: a NOTIFY alone (no row: no reload could find it) revokes the token.
    const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti as string;
    const row = JSON.stringify({ k: 'jti', t: 'acme', n: jti, at: Math.floor(Date.now() / 1000) + 3600 });
    await w.v.db.ds.query(`SELECT pg_notify('vault_tokens_revoked', $1)`, [row]);
    await until(async () => (await release(w.v, token)).status === 401, 1000, 'the revocation after the NOTIFY');

    expect(await listening()).toEqual(['LISTEN vault_policy_changed']);
  });

  it('after the connection is killed, one new connection LISTENs both channels and notifications take effect again', async () => {
    const token = await vaultToken(w, 'mcp-2');
    expect((await release(w.v, token)).status).toBe(200);
    const [{ n }] = await w.v.db.ds.query(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() ` +
        `AND application_name = 'credential-vault-api' AND query LIKE 'LISTEN %'`,
    );
    expect(n).toBe(1);
    // Reconnected: both channels in one LISTEN statement (the channels in the order they were subscribed).
    await until(async () => (await listening()).length === 1, 10_000, 'a new LISTEN connection');
    expect(await listening()).toEqual(['LISTEN vault_tokens_revoked; LISTEN vault_policy_changed']);

    const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti as string;
    const row = JSON.stringify({ k: 'jti', t: 'acme', n: jti, at: Math.floor(Date.now() / 1000) + 3600 });
    await w.v.db.ds.query(`SELECT pg_notify('vault_tokens_revoked', $1)`, [row]);
    await until(async () => (await release(w.v, token)).status === 401, 1000, 'the revocation after the NOTIFY');
  });
});
