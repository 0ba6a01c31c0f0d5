import { loadConfig } from '../../libs/config';
import { startTestVault, TestVault } from '../support/vault';

/**
 * SECURITY 44 (second half) and 18 (user-info), issue 14 §3: what an admin configures can make
 * the vault keep a provider's secrets in clear (metadata is stored and released unsealed; the
 * identity is stored and audited) or send credentials to a URL's user-info. Refused at PUT with
 * 400 naming the field; nothing stored.
 */
describe('admin-configured paths and URLs (real vault, real Postgres)', () => {
  let v: TestVault;
  const base = {
    provider: 'custom-oauth2',
    client_id: 'c',
    client_secret: 'client-secret-canary',
    authorize_url: 'https://idp.example.com/authorize',
    token_url: 'https://idp.example.com/token',
  };
  const put = (name: string, body: Record<string, unknown>) =>
    v.call('PUT', `/v1/admin/integrations/${name}`, { token: v.issuer.adminToken('acme'), body });
  const fieldsOf = (body: any): string[] => (body?.errors ?? []).map((e: { field?: string; property?: string }) => e.field ?? e.property);

  beforeAll(async () => {
    v = await startTestVault();
  });
  afterAll(() => v?.close());

  it.each([
    ['metadata reading the access token', { metadata: { at: 'access_token' } }, 'provider_options.metadata.at'],
    ['metadata reading a nested refresh token', { metadata: { user: 'authed_user.refresh_token' } }, 'provider_options.metadata.user'],
    ['metadata reading the raw ID token', { metadata: { idt: 'id_token' } }, 'provider_options.metadata.idt'],
    ['metadata reading the client secret', { metadata: { cs: 'client_secret' } }, 'provider_options.metadata.cs'],
    ['metadata reading a field named like a secret', { metadata: { k: 'data.api_key' } }, 'provider_options.metadata.k'],
    ['metadata reading a password', { metadata: { p: 'user.password' } }, 'provider_options.metadata.p'],
    [
      'identity subject from the refresh token',
      { identity: { source: 'response', subject: 'refresh_token' } },
      'provider_options.identity.subject',
    ],
    [
      'identity email from a secret field',
      { identity: { source: 'response', subject: 'user.id', email: 'signing_secret' } },
      'provider_options.identity.email',
    ],
  ])('%s → 400 naming the path; nothing stored', async (_what, options, field) => {
    const r = await put('risky', { ...base, provider_options: options });
    expect(r.status).toBe(400);
    expect(fieldsOf(r.body)).toContain(field);
    expect(r.text).toContain('must not read a token, a secret or a field named like one');
    expect(r.text).not.toContain('client-secret-canary');
    expect((await v.call('GET', '/v1/admin/integrations/risky', { token: v.issuer.adminToken('acme') })).status).toBe(404);
  });

  it('verified ID token claims and plain fields may be read', async () => {
    const r = await put('fine', {
      ...base,
      provider_options: {
        metadata: {
          tid: 'id_token_claims.tid',
          instance_url: 'instance_url',
          team_id: 'team.id',
          ttype: 'token_type',
          rt_expiry: 'refresh_token_expires_in',
        },
        identity: { source: 'id_token', subject: 'sub', email: 'email' },
      },
    });
    expect(r.status).toBe(201);
  });

  it.each([
    ['authorize_url', { authorize_url: 'https://user:pass@idp.example.com/authorize' }],
    ['token_url', { token_url: 'https://user:pass@idp.example.com/token' }],
    ['revocation_url', { revocation_url: 'https://user@idp.example.com/revoke' }],
    ['return_urls', { return_urls: ['https://user:pass@app.example.com/back'] }],
    ['provider_options.issuer', { provider_options: { issuer: 'https://user:pass@idp.example.com' } }],
  ])('user-info in %s → 400 naming it; nothing stored', async (field, patch) => {
    const r = await put('userinfo', { ...base, ...patch });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain(field);
    expect(r.text).not.toContain('pass@');
    expect((await v.call('GET', '/v1/admin/integrations/userinfo', { token: v.issuer.adminToken('acme') })).status).toBe(404);
  });

  it('user-info in an api_key validation_url → 400', async () => {
    const r = await put('key', {
      provider: 'api_key',
      api_key: { header_name: 'Authorization', validation_url: 'https://user:pass@api.example.com/me' },
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain('validation_url');
    expect(r.text).not.toContain('pass@');
  });

  it('user-info in TRUSTED_ISSUERS (issuer, jwks_uri), VAULT_PUBLIC_URL or AZURE_KEYVAULT_URL fails at boot naming it', () => {
    const issuers = [{ issuer: 'https://sts.example.com', jwks_uri: 'https://u:p@sts.example.com/jwks', algorithms: ['RS256'] }];
    expect(() => loadConfig({ NODE_ENV: 'test', TRUSTED_ISSUERS: JSON.stringify(issuers) })).toThrow(
      /TRUSTED_ISSUERS\[0\.jwks_uri\]: must not carry user info/,
    );
    expect(() =>
      loadConfig({
        NODE_ENV: 'test',
        TRUSTED_ISSUERS: JSON.stringify([{ ...issuers[0], issuer: 'https://u@sts.example.com', jwks_uri: 'https://sts.example.com/jwks' }]),
      }),
    ).toThrow(/TRUSTED_ISSUERS\[0\.issuer\]/);
    expect(() => loadConfig({ NODE_ENV: 'test', VAULT_PUBLIC_URL: 'https://u:p@vault.example.com' })).toThrow(/VAULT_PUBLIC_URL/);
    expect(() =>
      loadConfig({
        NODE_ENV: 'test',
        KEY_PROVIDER: 'azure',
        AZURE_KEYVAULT_URL: 'https://u:p@kv.example.com',
        AZURE_KEYVAULT_KEY_NAME: 'k',
      }),
    ).toThrow(/AZURE_KEYVAULT_URL/);
  });
});
