import { inspect } from 'node:util';
import {
  ConnectionNotFoundError,
  InvalidTokenError,
  NeedsReauthError,
  PolicyDeniedError,
  ScopeExceedsPolicyError,
  RateLimitedError,
  VaultClient,
  VaultError,
  VaultUnavailableError,
} from './index';
import { fakeJwt, FakeVault } from './spec/fake-vault';

const SECRET = 'client-secret-do-not-print';
const VAULT_TOKEN = fakeJwt({
  sub: 'alice',
  act: { sub: 'mcp-1' },
  exp: Math.floor(Date.now() / 1000) + 300,
  marker: 'vault-token-do-not-print',
});
const USER_TOKEN = fakeJwt({ sub: 'alice', marker: 'user-token-do-not-print' });

const problem = (status: number, code: string, extra: Record<string, unknown> = {}) => ({
  status,
  body: { type: 'about:blank', title: 'x', status, code, detail: `detail of ${code}`, ...extra },
});

describe('refusals become typed errors', () => {
  let vault: FakeVault;
  let client: VaultClient;
  const release = () => client.release('calendar', { vaultToken: VAULT_TOKEN });
  const exchange = () => client.exchange(USER_TOKEN, { integrations: ['calendar'] });
  const caught = async (p: Promise<unknown>): Promise<VaultError> => {
    try {
      await p;
    } catch (err) {
      return err as VaultError;
    }
    throw new Error('expected a refusal');
  };

  beforeAll(async () => {
    vault = await new FakeVault().start();
    client = new VaultClient({ url: vault.url, clientId: 'mcp-1', clientSecret: SECRET, timeoutMs: 500 });
  });
  afterAll(() => vault.close());

  it.each([
    [
      problem(409, 'needs_reauth', { connect_url: 'https://vault/connect/abc' }),
      NeedsReauthError,
      'needs_reauth',
      { connectUrl: 'https://vault/connect/abc' },
    ],
    [
      problem(404, 'connection_not_found', { connect_url: 'https://vault/connect/def' }),
      ConnectionNotFoundError,
      'connection_not_found',
      { connectUrl: 'https://vault/connect/def' },
    ],
    [problem(404, 'connection_not_found'), ConnectionNotFoundError, 'connection_not_found', { connectUrl: undefined }],
    [problem(403, 'policy_denied'), PolicyDeniedError, 'policy_denied', {}],
    [
      problem(403, 'scope_exceeds_policy', { excess_scopes: ['calendar.write'] }),
      ScopeExceedsPolicyError,
      'scope_exceeds_policy',
      { excessScopes: ['calendar.write'] },
    ],
    [problem(401, 'invalid_token'), InvalidTokenError, 'invalid_token', {}],
    [{ ...problem(429, 'rate_limited'), headers: { 'retry-after': '7' } }, RateLimitedError, 'rate_limited', { retryAfter: 7 }],
    [{ ...problem(503, 'unavailable'), headers: { 'retry-after': '2' } }, VaultUnavailableError, 'unavailable', { retryAfter: 2 }],
    [problem(403, 'scope_missing'), VaultError, 'scope_missing', { vaultCode: 'scope_missing' }],
    [problem(500, 'internal_error', { error_id: 'e-1' }), VaultError, 'internal_error', { errorId: 'e-1' }],
    [{ status: 502, body: '<html>bad gateway</html>' }, VaultUnavailableError, 'unavailable', {}],
  ])('release: %j → %p', async (answer, type, code, fields) => {
    vault.route = () => ({ ...answer, headers: { 'x-request-id': 'req-1', ...(answer as { headers?: Record<string, string> }).headers } });
    const err = await caught(release());
    expect(err).toBeInstanceOf(type);
    expect(err).toBeInstanceOf(VaultError);
    expect(err).toMatchObject({ code, status: answer.status, integration: 'calendar', requestId: 'req-1', ...fields });
  });

  it.each([
    [{ status: 400, body: { error: 'invalid_scope', error_description: 'no requested scope is allowed' } }, PolicyDeniedError, {}],
    [
      { status: 400, body: { error: 'invalid_request', error_description: 'subject_token is invalid: token expired' } },
      InvalidTokenError,
      {},
    ],
    [
      { status: 400, body: { error: 'invalid_request', error_description: 'grant_type is required' } },
      VaultError,
      { code: 'invalid_request' },
    ],
    [
      { status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' } },
      VaultError,
      { code: 'invalid_client' },
    ],
    [
      { status: 429, body: { error: 'rate_limited', error_description: 'slow down' }, headers: { 'retry-after': '3' } },
      RateLimitedError,
      { retryAfter: 3 },
    ],
    [
      { status: 503, body: { error: 'temporarily_unavailable', error_description: 'db down' }, headers: { 'retry-after': '1' } },
      VaultUnavailableError,
      { retryAfter: 1 },
    ],
  ])('exchange: %j → %p', async (answer, type, fields) => {
    vault.route = () => answer;
    const err = await caught(exchange());
    expect(err).toBeInstanceOf(type);
    expect(err).toMatchObject({ status: answer.status, vaultCode: answer.body.error, detail: answer.body.error_description, ...fields });
  });

  it('an unreachable vault or one that does not answer in time is VaultUnavailableError', async () => {
    const closed = new VaultClient({ url: 'http://127.0.0.1:1', clientId: 'mcp-1', clientSecret: SECRET });
    expect(await caught(closed.release('calendar', { vaultToken: VAULT_TOKEN }))).toMatchObject({
      code: 'unavailable',
      status: 0,
      detail: 'the vault could not be reached',
    });
    vault.route = () => ({ status: 200, hold: new Promise((r) => setTimeout(r, 1500)) });
    expect(await caught(release())).toMatchObject({ code: 'unavailable', detail: 'the vault did not answer within 500 ms' });
  });

  it('a 200 that is not a release is an error, not a credential', async () => {
    vault.route = () => ({ status: 200, body: { integration: 'calendar', type: 'oauth2' } });
    expect(await caught(release())).toMatchObject({ code: 'invalid_response' });
  });

  it('errors carry no token or secret, printed or serialised', async () => {
    vault.route = (req) =>
      req.path === '/oauth2/token'
        ? { status: 400, body: { error: 'invalid_scope', error_description: 'no' } }
        : problem(409, 'needs_reauth', { connect_url: 'https://vault/connect/x' });
    for (const err of [
      await caught(release()),
      await caught(exchange()),
      await caught(client.release('calendar', { userToken: USER_TOKEN })),
    ]) {
      for (const shown of [inspect(err, { showHidden: true, depth: 5 }), JSON.stringify(err), String(err), err.stack ?? '']) {
        expect(shown).not.toContain('do-not-print');
        expect(shown).not.toContain(VAULT_TOKEN);
        expect(shown).not.toContain(USER_TOKEN);
      }
    }
  });
});
