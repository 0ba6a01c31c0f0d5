import { startTestVault, TestVault } from '../support/vault';
import { parseMetrics, sample } from './support';

/**
 * The pages for people (issue 17 leftovers): `/account`, the sign-in callback `/auth/callback`,
 * the connect links and consent pages, `/connections` and `/oauth/callback` are open to anyone and
 * get the admin API's per-address budget, counted under their own keys like the dashboard's. Over
 * it: a 429 page with `Retry-After`, checked before the route's own work; the admin API keeps its
 * own budget.
 */
describe('rate limits on the pages for people', () => {
  let v: TestVault;
  const T = 'acme';

  beforeAll(async () => {
    v = await startTestVault({ RATE_LIMIT_WINDOW_SECONDS: '60', RATE_LIMIT_ADMIN_PER_IP: '6', RATE_LIMIT_ADMIN_PER_CALLER: '100' });
  });
  afterAll(() => v?.close());

  it('per address across every page route; then a 429 page with Retry-After', async () => {
    // Six page requests, each its own route: /account (no sign-in configured: 404 page), the sign-in and OAuth callbacks, a link.
    const paths = [
      '/account',
      '/t/acme/account',
      '/auth/callback?code=x&state=y',
      '/oauth/callback?code=x&state=y',
      '/connect/nope',
      '/connections',
    ];
    for (const p of paths) expect((await v.call('GET', p)).status).not.toBe(429);
    for (const p of ['/account', '/auth/callback?code=x&state=y', '/connect/nope', '/connections']) {
      const r = await v.call('GET', p);
      expect(r.status).toBe(429);
      expect(r.headers.get('content-type')).toContain('text/html');
      expect(r.text).toContain('Try again in a moment');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    }
    // A form post is counted too (before its CSRF check).
    expect(
      (await v.call('POST', '/account/sign-out', { raw: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status,
    ).toBe(429);
  });

  it('the admin API has its own budget, and the refusals are counted as route_group="pages"', async () => {
    expect((await v.call('GET', '/v1/admin/tenant', { token: v.issuer.adminToken(T) })).status).toBe(200);
    const m = parseMetrics((await v.call('GET', '/metrics')).text);
    expect(sample(m, 'vault_rate_limited_total', { route_group: 'pages', limiter: 'ip' })).toBe(5);
    expect(sample(m, 'vault_rate_limited_total', { route_group: 'admin', limiter: 'ip' })).toBe(0);
  });
});
