import { TestVault } from '../support/vault';
import { basic, form, release, RevocationWorld, startRevocationWorld, until, vaultToken } from './support';

/**
 * Issue 18 §4: a revocation made through one API process is effective on another one on the same
 * database within a second (LISTEN/NOTIFY into each process's in-memory list; no query per release).
 */
describe('revocation across API processes', () => {
  let w: RevocationWorld;
  let second: TestVault;
  beforeAll(async () => {
    w = await startRevocationWorld();
    second = await w.replica();
  });
  afterAll(() => w?.close());

  it('a token revoked by its holder on one process is refused by the other within 1 s', async () => {
    const token = await vaultToken(w, 'mcp-1');
    // The second process has verified (and cached) the token: only the revocation list can refuse it now.
    expect((await release(second, token)).status).toBe(200);
    expect((await form(w.v, '/oauth2/revoke', { token }, basic('mcp-1', w.secrets['mcp-1']))).status).toBe(200);
    await until(async () => (await release(second, token)).status === 401, 1000, 'the second process refusing the token');
    expect((await release(second, token)).body).toMatchObject({ code: 'invalid_token', reason: 'revoked' });
  });

  it("an admin's revoke-tokens on one process is effective on the other within 1 s", async () => {
    const agentToken = await vaultToken(w, 'mcp-2', 'bob');
    const userToken = await vaultToken(w, 'mcp-1', 'alice');
    expect((await release(second, agentToken)).status).toBe(200);
    expect((await release(second, userToken)).status).toBe(200);
    expect((await w.v.call('POST', '/v1/admin/agents/mcp-2/revoke-tokens', { token: w.admin() })).status).toBe(200);
    await until(async () => (await release(second, agentToken)).status === 401, 1000, 'the agent cutoff on the second process');
    expect((await w.v.call('POST', '/v1/admin/users/alice/revoke-tokens', { token: w.admin() })).status).toBe(200);
    await until(async () => (await release(second, userToken)).status === 401, 1000, 'the user cutoff on the second process');
  });

  it('a process that starts after a revocation knows it from the start', async () => {
    const token = await vaultToken(w, 'mcp-1', 'bob');
    expect((await form(w.v, '/oauth2/revoke', { token }, basic('mcp-1', w.secrets['mcp-1']))).status).toBe(200);
    const third = await w.replica();
    expect((await release(third, token)).body).toMatchObject({ code: 'invalid_token', reason: 'revoked' });
  });

  it('while the LISTEN connection is lost, the periodic reload still delivers a revocation within 1 s', async () => {
    const token = await vaultToken(w, 'mcp-1', 'bob');
    expect((await release(second, token)).status).toBe(200);
    // Kill the second process's LISTEN connection (as a network failure would). Each process has one,
    // shared by its channels; pg_stat_activity shows its last statement, a LISTEN of one or more channels.
    const killed = await w.v.db.ds.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND application_name = 'credential-vault-api' ` +
        `AND datname = current_database() AND pid <> pg_backend_pid()`,
    );
    expect(killed.length).toBeGreaterThanOrEqual(2);
    expect((await form(w.v, '/oauth2/revoke', { token }, basic('mcp-1', w.secrets['mcp-1']))).status).toBe(200);
    await until(async () => (await release(second, token)).status === 401, 1000, 'the revocation without notifications');
  });
});
