import { setTimeout as sleep } from 'node:timers/promises';
import { startTestVault, TestVault } from '../support/vault';
import { waitFor } from '../webhooks/support';
import { basic, postForm, TestSmtp } from './support';

const T = 'acme';

/**
 * The approval mail is sent after bc-authorize has answered (the agent is not kept waiting for
 * SMTP), so draining the HTTP requests does not wait for it. A mail still on its way when the vault
 * closes must be delivered before close resolves: main.ts exits the process right after close, and
 * the user would never hear of the request (the mailer's transport was also closed under it).
 */
describe('approval mail at shutdown', () => {
  let v: TestVault | undefined;
  let smtp: TestSmtp | undefined;
  afterAll(async () => {
    await v?.db.drop();
    await smtp?.close();
  });

  it('a mail in flight when the vault closes is delivered before close resolves', async () => {
    smtp = await new TestSmtp().start();
    v = await startTestVault({ SMTP_URL: smtp.url, SMTP_FROM: 'Credential Vault <vault@example.test>' });
    const admin = v.issuer.adminToken(T);
    const put = async (path: string, body: unknown) => {
      const r = await v!.call('PUT', path, { token: admin, body });
      if (r.status >= 300) throw new Error(`PUT ${path}: ${r.status} ${r.text}`);
      return r.body;
    };
    await put('/v1/admin/integrations/openai', { provider: 'api_key' });
    const secret = (await put('/v1/admin/agents/mcp-1', { name: 'One', auth_method: 'client_secret_basic' })).client_secret;
    await put('/v1/admin/policies/approve', { agents: ['*'], integrations: ['openai'], effect: 'allow', require_approval: true });

    const open = smtp.hold(); // the relay takes the message and holds its answer: the mail is in flight
    const asked = await postForm(
      `${v.url}/oauth2/bc-authorize`,
      { scope: 'connections:openai', login_hint_token: v.issuer.sign({ sub: 'alice', tid: T, email: 'alice@example.test' }) },
      basic('mcp-1', secret),
    );
    expect(asked.status).toBe(200);
    const s = smtp;
    await waitFor('the mail to reach the relay', () => s.held === 1);

    let mailsAtClose = -1;
    const closing = v.vault.close().then(() => {
      mailsAtClose = s.mails.length;
      return 'closed';
    });
    // The relay answers once close has resolved, or after a while if it waits for the mail.
    const cancel = new AbortController(); // timers cleared after: one left running keeps Jest alive past the run
    await Promise.race([closing, sleep(2000, undefined, { signal: cancel.signal }).catch(() => undefined)]);
    open();
    const outcome = await Promise.race([closing, sleep(15_000, 'still closing', { signal: cancel.signal }).catch(() => 'cancelled')]);
    cancel.abort();
    expect(outcome).toBe('closed');
    expect(mailsAtClose).toBe(1);
    expect(s.mails[0].to).toEqual(['alice@example.test']);
  });
});
