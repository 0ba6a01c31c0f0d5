import { UserGrantSwitches } from '../../libs/policy';
import { asTenantId } from '../../libs/kernel';
import { auditEvents, basic, exchange, exchangeParams, put, startWorld, TENANT, TokenServiceWorld } from '../token-service/support';

/**
 * A user's own per-agent switch is a deny input to the one decision point (DESIGN.md policy): the
 * token exchange leaves the scope out (refused with policy_denied, audited), a token issued before
 * the switch is refused at release, another agent is unaffected, and turning it on restores both.
 * Also: a switch written by another process (plain SQL) reaches this one through the policy
 * change notification.
 */
describe('per-agent switch: token exchange and release', () => {
  let w: TokenServiceWorld;
  let s1: string;
  let s2: string;
  const switches = () => w.v.vault.app.get(UserGrantSwitches);
  const release = (token: string) => w.v.call('POST', '/v1/connections/openai/token', { token });

  beforeAll(async () => {
    w = await startWorld({ alice: { tid: TENANT } });
    await put(w, '/v1/admin/integrations/openai', { provider: 'api_key' });
    s1 = (await put(w, '/v1/admin/agents/mcp-1', { name: 'One', auth_method: 'client_secret_basic' })).client_secret;
    s2 = (await put(w, '/v1/admin/agents/mcp-2', { name: 'Two', auth_method: 'client_secret_basic' })).client_secret;
    await put(w, '/v1/admin/policies/all', { agents: ['*'], integrations: ['openai'], effect: 'allow' });
    await put(w, '/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice' });
  });
  afterAll(() => w?.close());

  it('off: the exchange refuses the scope and an earlier token is refused at release; on: both work again', async () => {
    const before = await exchange(w, exchangeParams(await w.idp.userToken('alice'), 'connections:openai'), basic('mcp-1', s1));
    expect(before.body.scope).toBe('connections:openai');

    await switches().set(asTenantId(TENANT), 'alice', 'openai', 'mcp-1', false);
    const refused = await release(before.body.access_token);
    expect([refused.status, refused.body.code]).toEqual([403, 'policy_denied']);
    const after = await exchange(w, exchangeParams(await w.idp.userToken('alice'), 'connections:openai'), basic('mcp-1', s1));
    expect(after.body.scope ?? '').not.toContain('connections:openai');
    const other = await exchange(w, exchangeParams(await w.idp.userToken('alice'), 'connections:openai'), basic('mcp-2', s2));
    expect(other.body.scope).toBe('connections:openai');
    expect((await release(other.body.access_token)).status).toBe(200);
    const denial = await w.v.call('GET', '/v1/admin/audit?action=credential.release&outcome=denied&agent=mcp-1', {
      token: w.v.issuer.adminToken(TENANT),
    });
    expect(denial.body.events[0]).toMatchObject({
      reason: 'policy_denied',
      user: 'alice',
      details: expect.objectContaining({ user_switch: 'off' }),
    });
    const exchanges = await auditEvents(w);
    expect(exchanges.find((e) => e.agent === 'mcp-1')!.details.refused).toEqual([
      expect.objectContaining({ scope: 'connections:openai', reason: 'policy_denied' }),
    ]);

    await switches().set(asTenantId(TENANT), 'alice', 'openai', 'mcp-1', true);
    expect((await release(before.body.access_token)).status).toBe(200);
    const again = await exchange(w, exchangeParams(await w.idp.userToken('alice'), 'connections:openai'), basic('mcp-1', s1));
    expect(again.body.scope).toBe('connections:openai');
  });

  it('a switch written by another process reaches the release through the change notification', async () => {
    const token = (await exchange(w, exchangeParams(await w.idp.userToken('alice'), 'connections:openai'), basic('mcp-2', s2))).body
      .access_token;
    expect((await release(token)).status).toBe(200); // the snapshot is cached now
    await w.v.db.ds.query(`INSERT INTO user_agent_denies (tenant, subject, integration, agent) VALUES ($1, 'alice', 'openai', 'mcp-2')`, [
      TENANT,
    ]);
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      status = (await release(token)).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(403);
  });
});
