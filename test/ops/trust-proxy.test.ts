import { startTestVault, TestVault } from '../support/vault';

/**
 * VAULT_TRUST_PROXY as a hop count: the nearest hop is our proxy, so per-IP limits count the
 * client it names in X-Forwarded-For. (Fastify 5.12 alone would trust no hop for a bare number,
 * and every client behind the proxy would share the proxy's budget.)
 */
describe('VAULT_TRUST_PROXY=1 (one proxy hop)', () => {
  let v: TestVault;
  const guess = (from: string, i: number) =>
    v.call('POST', '/v1/connections/openai/token', { token: `guess.${i}.x`, headers: { 'x-forwarded-for': from } });

  beforeAll(async () => {
    v = await startTestVault({ VAULT_TRUST_PROXY: '1', RATE_LIMIT_WINDOW_SECONDS: '60', RATE_LIMIT_RELEASE_PER_IP: '2' });
  });
  afterAll(() => v?.close());

  it('per-IP release limits count the forwarded client, not the proxy', async () => {
    expect((await guess('203.0.113.1', 1)).status).toBe(401);
    expect((await guess('203.0.113.1', 2)).status).toBe(401);
    expect((await guess('203.0.113.1', 3)).status).toBe(429);
    // Another client behind the same proxy has its own budget.
    expect((await guess('203.0.113.2', 4)).status).toBe(401);
  });
});
