import { ApprovalDeniedError, ApprovalExpiredError, ApprovalRequiredError, VaultClient } from './index';
import { fakeJwt, FakeVault, SeenRequest } from './spec/fake-vault';

const SECRET = 'client-secret-do-not-print';
const USER_TOKEN = fakeJwt({ sub: 'alice', tid: 'acme' });
const CIBA = 'urn:openid:params:grant-type:ciba';

describe('VaultClient.withApproval (CIBA poll mode) against a local HTTP server', () => {
  let vault: FakeVault;
  let now: number;
  let waits: number[];
  const client = () =>
    new VaultClient({
      url: vault.url,
      clientId: 'mcp-1',
      clientSecret: SECRET,
      now: () => now,
      sleep: async (ms) => {
        waits.push(ms);
        now += ms;
      },
    });
  /** bc-authorize answers, then each poll gets the next of `polls`. */
  const routes = (polls: Array<{ status: number; body: unknown }>, expiresIn = 600) => {
    let n = 0;
    return (req: SeenRequest) => {
      if (req.path === '/oauth2/bc-authorize')
        return { status: 200, body: { auth_req_id: 'r'.repeat(43), expires_in: expiresIn, interval: 5 } };
      return polls[Math.min(n++, polls.length - 1)];
    };
  };
  const pending = { status: 400, body: { error: 'authorization_pending' } };

  beforeEach(async () => {
    vault = await new FakeVault().start();
    now = 1_700_000_000_000;
    waits = [];
  });
  afterEach(() => vault.close());

  it('asks with the user token, message and details, then polls with backoff (slow_down adds 5 s) until the token', async () => {
    const token = fakeJwt({ sub: 'alice', approval: '6f1c0b1e-8d7a-4c55-9f0e-0a1b2c3d4e5f', exp: now / 1000 + 300 });
    vault.route = routes([
      pending,
      pending,
      { status: 400, body: { error: 'slow_down' } },
      pending,
      { status: 200, body: { access_token: token, token_type: 'Bearer', expires_in: 300, scope: 'connections:gmail' } },
    ]);
    const requested: unknown[] = [];
    const t = await client().withApproval('gmail', {
      userToken: USER_TOKEN,
      bindingMessage: 'Invoice 4711',
      authorizationDetails: [{ type: 'email_send', to: 'billing@example.com' }],
      onRequested: (r) => void requested.push(r),
    });
    expect(t).toMatchObject({ accessToken: token, scopes: ['connections:gmail'], approvalId: '6f1c0b1e-8d7a-4c55-9f0e-0a1b2c3d4e5f' });
    expect(requested).toEqual([{ expiresIn: 600, interval: 5 }]);
    // 5 s, ×1.25 per pending answer; slow_down makes the interval 10 s and never waits less.
    expect(waits).toEqual([5000, 6250, 7812.5, 10000, 12500]);
    const ask = new URLSearchParams(vault.seen[0].body);
    expect(Object.fromEntries(ask)).toMatchObject({
      scope: 'connections:gmail',
      login_hint_token: USER_TOKEN,
      binding_message: 'Invoice 4711',
      authorization_details: '[{"type":"email_send","to":"billing@example.com"}]',
    });
    expect(vault.seen[0].headers.authorization).toMatch(/^Basic /);
    const polled = new URLSearchParams(vault.seen[1].body);
    expect(polled.get('grant_type')).toBe(CIBA);
    expect(polled.get('auth_req_id')).toBe('r'.repeat(43));
  });

  it('the wait stops growing at four intervals', async () => {
    vault.route = routes([...Array(12).fill(pending), { status: 400, body: { error: 'access_denied' } }]);
    await expect(client().withApproval('gmail', { userToken: USER_TOKEN })).rejects.toBeInstanceOf(ApprovalDeniedError);
    expect(Math.max(...waits)).toBe(20000);
  });

  it('access_denied → ApprovalDeniedError; expired_token → ApprovalExpiredError; no answer in time → ApprovalExpiredError', async () => {
    vault.route = routes([{ status: 400, body: { error: 'access_denied', error_description: 'the user denied the request' } }]);
    const denied = await client()
      .withApproval('gmail', { userToken: USER_TOKEN })
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ApprovalDeniedError);
    expect(denied).toMatchObject({ code: 'approval_denied', vaultCode: 'access_denied', status: 400 });

    vault.route = routes([{ status: 400, body: { error: 'expired_token' } }]);
    await expect(client().withApproval('gmail', { userToken: USER_TOKEN })).rejects.toBeInstanceOf(ApprovalExpiredError);

    vault.route = routes([pending], 12);
    const late = await client()
      .withApproval('gmail', { userToken: USER_TOKEN })
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ApprovalExpiredError);
    expect(waits.at(-1)).toBeLessThan(12_000);
  });

  it('a refusal at bc-authorize is the exchange error it maps to (invalid_scope → PolicyDeniedError)', async () => {
    vault.route = () => ({
      status: 400,
      body: { error: 'invalid_scope', error_description: 'no policy lets this agent have these scopes' },
    });
    await expect(client().withApproval('gmail', { userToken: USER_TOKEN })).rejects.toMatchObject({ code: 'policy_denied' });
    await expect(client().withApproval('gmail', {} as never)).rejects.toThrow(TypeError);
  });

  it('a release refused with approval_required is ApprovalRequiredError with where to ask', async () => {
    vault.route = () => ({
      status: 403,
      body: { code: 'approval_required', detail: 'ask', bc_authorize: 'https://vault/oauth2/bc-authorize', scope: 'connections:gmail' },
    });
    const err = await client()
      .release('gmail', { vaultToken: fakeJwt({ sub: 'alice', exp: now / 1000 + 60 }) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApprovalRequiredError);
    expect(err).toMatchObject({ code: 'approval_required', bcAuthorize: 'https://vault/oauth2/bc-authorize', integration: 'gmail' });
  });
});
