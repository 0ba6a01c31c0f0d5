import { ApprovalDeniedError, ApprovalExpiredError, ApprovalRequiredError, VaultClient } from '../../libs/sdk/index';
import { randomBytes } from 'node:crypto';
import { startTestVault, TestVault } from '../support/vault';

const T = 'acme';

/**
 * The SDK's `withApproval` against the real vault: it asks at bc-authorize, polls, and the user
 * answers on the real approval page (a real session, its CSRF token, the form post). The SDK's
 * waits are replaced by "the interval passed" (the row's poll clock moved back), so no test waits.
 */
describe('@credential-vault/sdk withApproval against the real vault', () => {
  let v: TestVault;
  let secret: string;
  let cookie: string;
  const admin = () => v.issuer.adminToken(T);
  const userToken = () => v.issuer.sign({ sub: 'alice', tid: T });
  /** The user's answer on the page, as a browser would post it. */
  const answer = async (id: string, what: 'approve' | 'deny') => {
    // No Origin header (as a same-origin form post may have none): the vault's own origin is https://vault.test.example.
    const headers = { cookie };
    const page = await (await fetch(`${v.url}/t/${T}/account/approvals/${id}`, { headers })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1];
    const r = await fetch(`${v.url}/t/${T}/account/approvals/${id}/${what}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf }).toString(),
    });
    expect(r.status).toBe(200);
  };
  /** A client whose n-th wait lets the interval pass and may answer on the user's behalf. */
  const client = (onWait: (n: number, id: string) => Promise<void>) => {
    let n = 0;
    return new VaultClient({
      url: v.url,
      clientId: 'mcp-1',
      clientSecret: secret,
      sleep: async () => {
        const [{ id }] = await v.db.ds.query(`SELECT id FROM approvals ORDER BY created_at DESC LIMIT 1`);
        await v.db.ds.query(`UPDATE approvals SET last_polled_at = now() - interval '1 hour' WHERE id = $1`, [id]);
        await onWait(++n, id);
      },
    });
  };

  beforeAll(async () => {
    v = await startTestVault();
    const put = async (path: string, body: unknown) => {
      const r = await v.call('PUT', path, { token: admin(), body });
      if (r.status >= 300) throw new Error(`PUT ${path}: ${r.status} ${r.text}`);
      return r.body;
    };
    await put('/v1/admin/integrations/openai', { provider: 'api_key' });
    secret = (await put('/v1/admin/agents/mcp-1', { name: 'One', auth_method: 'client_secret_basic' })).client_secret;
    await put('/v1/admin/policies/approve', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow', require_approval: true });
    await put('/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice-canary-3' });
    // A session row as alice's sign-in makes it (the browser flow is ciba-browser.test.ts): the cookie value, its SHA-256 stored.
    const value = randomBytes(32).toString('base64url');
    await v.db.ds.query(
      `INSERT INTO user_sessions (id_hash, tenant, subject, email, roles, expires_at)
       VALUES (sha256(convert_to($1, 'UTF8')), $2, 'alice', 'alice@example.test', '{}', now() + interval '1 hour')`,
      [value, T],
    );
    // VAULT_PUBLIC_URL is https here: the session cookie has the __Host- prefix.
    cookie = `__Host-vault_user_${Buffer.from(T).toString('hex')}=${value}`;
  }, 60_000);
  afterAll(async () => {
    await v?.close();
  });

  it('release without approval → ApprovalRequiredError; withApproval → approved token → release', async () => {
    const plain = new VaultClient({ url: v.url, clientId: 'mcp-1', clientSecret: secret });
    await expect(plain.release('openai', { userToken: userToken() })).rejects.toBeInstanceOf(ApprovalRequiredError);

    const c = client(async (n, id) => {
      if (n === 2) await answer(id, 'approve');
    });
    const t = await c.withApproval('openai', { userToken: userToken(), bindingMessage: 'SDK test' });
    expect(t.scopes).toEqual(['connections:openai']);
    expect(t.approvalId).toMatch(/^[0-9a-f-]{36}$/);
    const r = await c.release('openai', { vaultToken: t.accessToken });
    expect(r).toMatchObject({ type: 'api_key', api_key: 'sk-alice-canary-3' });
  });

  it('denied → ApprovalDeniedError; expired → ApprovalExpiredError', async () => {
    await expect(
      client(async (n, id) => {
        if (n === 1) await answer(id, 'deny');
      }).withApproval('openai', { userToken: userToken() }),
    ).rejects.toBeInstanceOf(ApprovalDeniedError);

    await expect(
      client(async (n, id) => {
        if (n === 1) await v.db.ds.query(`UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
      }).withApproval('openai', { userToken: userToken() }),
    ).rejects.toBeInstanceOf(ApprovalExpiredError);
  });
});
