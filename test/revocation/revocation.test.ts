import { afterSecondOf, basic, form, release, RevocationWorld, startRevocationWorld, TENANT, vaultToken } from './support';

/**
 * Issue 18 §4: an agent revokes its own vault token (RFC 7009) and introspects it (RFC 7662); an
 * admin revokes every token of an agent or of a user. A revoked token is refused on release with
 * 401 invalid_token, reason `revoked`, audited; another agent's token is answered 200 but stays valid.
 */
describe('vault token revocation and introspection', () => {
  let w: RevocationWorld;
  beforeAll(async () => {
    w = await startRevocationWorld();
  });
  afterAll(() => w?.close());

  const revoke = (agent: string, token: string) => form(w.v, '/oauth2/revoke', { token }, basic(agent, w.secrets[agent]));
  const introspect = (token: string, headers: Record<string, string>) => form(w.v, '/oauth2/introspect', { token }, headers);
  const audit = (action: string) =>
    w.v.db.ds.query(`SELECT outcome, reason, agent, subject, details FROM vault.audit_events WHERE action = $1 ORDER BY seq DESC`, [
      action,
    ]);

  it('the holder revokes its token: release refuses it (401 invalid_token, reason revoked, audited), introspection says inactive', async () => {
    const token = await vaultToken(w, 'mcp-1');
    expect((await release(w.v, token)).status).toBe(200);
    const before = await introspect(token, basic('mcp-1', w.secrets['mcp-1']));
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({
      active: true,
      client_id: 'mcp-1',
      sub: 'alice',
      token_type: 'Bearer',
      scope: 'connections:openai',
    });

    const res = await revoke('mcp-1', token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const refused = await release(w.v, token);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ code: 'invalid_token', reason: 'revoked', detail: 'token has been revoked' });
    expect(refused.headers.get('www-authenticate')).toBe(
      'Bearer error="invalid_token", resource_metadata="https://vault.test.example/.well-known/oauth-protected-resource"',
    );
    const [denied] = await audit('credential.release');
    expect(denied).toMatchObject({ outcome: 'denied', reason: 'invalid_token', agent: 'mcp-1', subject: 'alice' });
    expect(denied.details).toMatchObject({ cause: 'revoked' });
    const [revoked] = await audit('token.revoke');
    expect(revoked).toMatchObject({ outcome: 'allowed', agent: 'mcp-1', subject: 'alice', details: { revoked: true } });

    expect((await introspect(token, basic('mcp-1', w.secrets['mcp-1']))).body).toEqual({ active: false });
    // Revoking again is still 200 (RFC 7009 §2.2).
    expect((await revoke('mcp-1', token)).status).toBe(200);
  });

  it("another agent's token: 200 but not revoked, audited as refused", async () => {
    const token = await vaultToken(w, 'mcp-1');
    const res = await revoke('mcp-2', token);
    expect(res.status).toBe(200);
    expect((await release(w.v, token)).status).toBe(200);
    const [event] = await audit('token.revoke');
    expect(event).toMatchObject({
      outcome: 'denied',
      reason: 'not_token_owner',
      agent: 'mcp-2',
      details: { revoked: false, issued_to: 'mcp-1' },
    });
    // Nor may it introspect it.
    expect((await introspect(token, basic('mcp-2', w.secrets['mcp-2']))).body).toEqual({ active: false });
  });

  it('introspection by an admin of the tenant, not by an admin of another tenant', async () => {
    const token = await vaultToken(w, 'mcp-1');
    const mine = await introspect(token, { authorization: `Bearer ${w.admin()}` });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ active: true, client_id: 'mcp-1', sub: 'alice', tid: TENANT, iss: 'https://vault.test.example' });
    expect(typeof mine.body.exp).toBe('number');
    expect(mine.body.act).toEqual({ sub: 'mcp-1' });
    expect((await introspect(token, { authorization: `Bearer ${w.admin('globex')}` })).body).toEqual({ active: false });
    // A user token without vault:admin is no admin.
    const notAdmin = await introspect(token, { authorization: `Bearer ${w.user('alice')}` });
    expect(notAdmin.status).toBe(401);
    expect(notAdmin.body.error).toBe('invalid_client');
    expect((await introspect('not-a-token', { authorization: `Bearer ${w.admin()}` })).body).toEqual({ active: false });
  });

  it('admin: every token of an agent issued up to now is revoked; new ones work', async () => {
    const a1 = await vaultToken(w, 'mcp-1');
    const b = await vaultToken(w, 'mcp-2');
    const res = await w.v.call('POST', '/v1/admin/agents/mcp-1/revoke-tokens', { token: w.admin() });
    expect(res.status).toBe(200);
    expect(Date.parse(res.body.revoked_before)).toBeGreaterThan(Date.now() - 2000);
    expect((await release(w.v, a1)).body).toMatchObject({ code: 'invalid_token', reason: 'revoked' });
    expect((await release(w.v, b)).status).toBe(200);
    await afterSecondOf(res.body.revoked_before);
    expect((await release(w.v, await vaultToken(w, 'mcp-1'))).status).toBe(200);
    const [event] = await audit('token.revoke');
    expect(event).toMatchObject({ outcome: 'allowed', agent: 'mcp-1', details: { revoked_all_of: 'agent', by: `admin@${TENANT}` } });
    expect((await w.v.call('POST', '/v1/admin/agents/nobody/revoke-tokens', { token: w.admin() })).body).toMatchObject({
      code: 'not_found',
    });
  });

  it("admin: every token of a user is revoked, also the user's own token at the token endpoint; other users are untouched", async () => {
    const alice = await vaultToken(w, 'mcp-1', 'alice');
    const bob = await vaultToken(w, 'mcp-1', 'bob');
    const aliceIdp = w.user('alice');
    const res = await w.v.call('POST', '/v1/admin/users/alice/revoke-tokens', { token: w.admin() });
    expect(res.status).toBe(200);
    expect((await release(w.v, alice)).body).toMatchObject({ code: 'invalid_token', reason: 'revoked' });
    expect((await release(w.v, bob)).status).toBe(200);
    // The agent cannot simply exchange alice's still-unexpired token again.
    await expect(vaultToken(w, 'mcp-1', 'alice', {}, aliceIdp)).rejects.toThrow(/subject_token is invalid: token has been revoked/);
    await afterSecondOf(res.body.revoked_before);
    expect((await release(w.v, await vaultToken(w, 'mcp-1', 'alice'))).status).toBe(200);
  });

  it("bad input: no token, no client authentication, a wrong secret, another issuer's token, JSON", async () => {
    const token = await vaultToken(w, 'mcp-1');
    const none = await form(w.v, '/oauth2/revoke', {}, basic('mcp-1', w.secrets['mcp-1']));
    expect(none.status).toBe(400);
    expect(none.body).toEqual({ error: 'invalid_request', error_description: 'token is required' });
    const anonymous = await form(w.v, '/oauth2/revoke', { token });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toBe('invalid_client');
    const wrong = await form(w.v, '/oauth2/revoke', { token }, basic('mcp-1', 'nope'));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    expect((await release(w.v, token)).status).toBe(200);
    const foreign = await form(w.v, '/oauth2/revoke', { token: w.user('alice') }, basic('mcp-1', w.secrets['mcp-1']));
    expect(foreign.status).toBe(400);
    expect(foreign.body.error).toBe('unsupported_token_type');
    const json = await w.v.call('POST', '/oauth2/revoke', { body: { token }, headers: basic('mcp-1', w.secrets['mcp-1']) });
    expect(json.status).toBe(400);
    expect(json.body.error).toBe('invalid_request');
    const noIntrospectAuth = await form(w.v, '/oauth2/introspect', { token });
    expect(noIntrospectAuth.status).toBe(401);
  });

  it('invalid_client at /oauth2/revoke and /oauth2/introspect is audited as at /oauth2/token: the claimed id, never the secret', async () => {
    const token = await vaultToken(w, 'mcp-1');
    expect((await form(w.v, '/oauth2/revoke', { token }, basic('mcp-1', 'wrong-secret-canary'))).status).toBe(401);
    const [revoke] = await audit('token.revoke');
    expect(revoke).toMatchObject({ outcome: 'denied', reason: 'invalid_client', agent: null });
    expect(revoke.details).toMatchObject({ by: 'client', claimed_client_id: 'mcp-1', detail: expect.any(String) });
    expect(JSON.stringify(revoke)).not.toContain('wrong-secret-canary');
    expect(JSON.stringify(revoke)).not.toContain(token);

    expect((await form(w.v, '/oauth2/introspect', { token }, basic('mcp-2', 'wrong-secret-canary'))).status).toBe(401);
    const [client] = await audit('token.introspect');
    expect(client).toMatchObject({ outcome: 'denied', reason: 'invalid_client', agent: null });
    expect(client.details).toMatchObject({ by: 'client', claimed_client_id: 'mcp-2' });
    expect(JSON.stringify(client)).not.toContain('wrong-secret-canary');

    // A bearer that is no admin token is refused the same way (no client id to claim).
    expect((await form(w.v, '/oauth2/introspect', { token }, { authorization: `Bearer ${w.user('alice')}` })).status).toBe(401);
    const [admin] = await audit('token.introspect');
    expect(admin).toMatchObject({ outcome: 'denied', reason: 'invalid_client', agent: null, details: { by: 'admin' } });
  });

  it('the metadata lists the revocation and introspection endpoints and DPoP algorithms', async () => {
    const as = (await w.v.call('GET', '/.well-known/oauth-authorization-server')).body;
    expect(as).toMatchObject({
      revocation_endpoint: 'https://vault.test.example/oauth2/revoke',
      introspection_endpoint: 'https://vault.test.example/oauth2/introspect',
    });
    expect(as.dpop_signing_alg_values_supported).toContain('ES256');
    expect((await w.v.call('GET', '/.well-known/oauth-protected-resource')).body.dpop_signing_alg_values_supported).toContain('ES256');
  });
});
