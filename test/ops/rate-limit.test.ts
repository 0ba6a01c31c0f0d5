import { startTestVault, TestVault } from '../support/vault';
import { parseMetrics, sample } from './support';

/**
 * SECURITY.md 29 on the release and admin APIs: beyond the configured budget a caller gets 429
 * `rate_limited` (problem+json) with `Retry-After`. The per-IP limit applies before the token is
 * even verified (guessing tokens is limited and costs no audit row); the per-caller limit counts
 * the verified agent (release) or admin (admin API), so one caller cannot spend another's budget.
 */
function expectRateLimited(res: { status: number; body: any; headers: Headers }) {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status: 429, code: 'rate_limited', title: 'Too Many Requests' });
  const retryAfter = res.headers.get('retry-after');
  expect(retryAfter).toMatch(/^[1-9][0-9]*$/);
  expect(Number(retryAfter)).toBeLessThanOrEqual(60);
}

describe('rate limits (SECURITY 29)', () => {
  let v: TestVault;
  const T = 'acme';
  const release = (token: string) => v.call('POST', '/v1/connections/openai/token', { token });
  const agentToken = (agent: string) => v.issuer.agentToken({ tenant: T, user: 'alice', agent, integrations: ['openai'] });
  const invalidTokenAudits = async () =>
    Number(
      (
        await v.db.ds.query(
          `SELECT count(*)::int AS n FROM vault.audit_events WHERE action = 'credential.release' AND reason = 'invalid_token'`,
        )
      )[0].n,
    );

  beforeAll(async () => {
    v = await startTestVault({
      RATE_LIMIT_WINDOW_SECONDS: '60',
      RATE_LIMIT_RELEASE_PER_IP: '10',
      RATE_LIMIT_RELEASE_PER_AGENT: '3',
      RATE_LIMIT_ADMIN_PER_IP: '12',
      RATE_LIMIT_ADMIN_PER_CALLER: '8',
    });
    // Five admin calls by admin@acme (caller budget 8, IP budget 12).
    const a = v.issuer.adminToken(T);
    for (const [path, body] of [
      ['/v1/admin/integrations/openai', { provider: 'api_key' }],
      ['/v1/admin/agents/a1', { name: 'one' }],
      ['/v1/admin/agents/a2', { name: 'two' }],
      ['/v1/admin/policies/p1', { agents: ['*'], integrations: ['openai'], effect: 'allow' }],
      ['/v1/admin/connections/openai/users/alice', { api_key: 'sk-rate' }],
    ] as const) {
      expect((await v.call('PUT', path, { token: a, body })).status).toBe(201);
    }
  });
  afterAll(() => v?.close());

  it('release: per agent — the fourth release of a1 is refused, a2 still has its own budget', async () => {
    for (let i = 0; i < 3; i++) expect((await release(agentToken('a1'))).status).toBe(200);
    expectRateLimited(await release(agentToken('a1')));
    expect((await release(agentToken('a2'))).status).toBe(200);
  });

  it('release: per IP — token guessing is cut off before verification (no more audit rows), then everyone on that IP waits', async () => {
    // Five requests so far from 127.0.0.1; the IP budget is 10.
    const audited = await invalidTokenAudits();
    for (let i = 0; i < 5; i++) expect((await release(`guess.${i}.x`)).status).toBe(401);
    expect(await invalidTokenAudits()).toBe(audited + 5);
    for (let i = 0; i < 3; i++) expectRateLimited(await release(`guess.more${i}.x`));
    expect(await invalidTokenAudits()).toBe(audited + 5);
    expectRateLimited(await release(agentToken('a2')));
  });

  it('admin: per admin, then per IP; other routes are not limited', async () => {
    // admin@acme has made 5 calls: 3 more are allowed.
    for (let i = 0; i < 3; i++) expect((await v.call('GET', '/v1/admin/integrations', { token: v.issuer.adminToken(T) })).status).toBe(200);
    expectRateLimited(await v.call('GET', '/v1/admin/agents', { token: v.issuer.adminToken(T) }));
    // Another admin (another tenant) has its own caller budget, but the IP's (12) is nearly spent: 9 used.
    const other = v.issuer.adminToken('globex');
    for (let i = 0; i < 3; i++) expect((await v.call('GET', '/v1/admin/policies', { token: other })).status).toBe(200);
    expectRateLimited(
      await v.call('PUT', '/v1/admin/policies/x', { token: other, body: { agents: ['a1'], integrations: ['openai'], effect: 'allow' } }),
    );
    expect(await v.db.ds.query(`SELECT 1 FROM vault.policies WHERE name = 'x'`)).toEqual([]);
    // Health, metrics and the token endpoint are outside these limits.
    for (let i = 0; i < 20; i++) expect((await v.call('GET', '/healthz')).status).toBe(200);
    expect(
      (await v.call('POST', '/oauth2/token', { raw: 'grant_type=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }))
        .status,
    ).toBe(400);
  });

  it('refusals are counted on /metrics by route group and limiter', async () => {
    const m = parseMetrics((await v.call('GET', '/metrics')).text);
    expect(sample(m, 'vault_rate_limited_total', { route_group: 'release', limiter: 'caller' })).toBe(1);
    expect(sample(m, 'vault_rate_limited_total', { route_group: 'release', limiter: 'ip' })).toBe(4);
    expect(sample(m, 'vault_rate_limited_total', { route_group: 'admin', limiter: 'caller' })).toBe(1);
    expect(sample(m, 'vault_rate_limited_total', { route_group: 'admin', limiter: 'ip' })).toBe(1);
    expect(sample(m, 'vault_release_denials_total', { reason: 'rate_limited' })).toBe(5);
  });
});
