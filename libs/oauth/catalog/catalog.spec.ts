import { BUILT_IN_ENTRIES, downscopable, ProviderCatalog, validateEntry } from './catalog';
import { google } from './entries/enterprise';

/** The catalog is data, validated at load; every PROVIDERS.md quirk is a field of an entry. */
describe('provider catalog', () => {
  const catalog = new ProviderCatalog();
  const entry = (id: string) => catalog.get(id)!;

  it('has Google, Microsoft, Salesforce ×3, GitHub ×2, Slack ×2, ten more and custom-oauth2', () => {
    expect(catalog.ids()).toEqual(
      expect.arrayContaining([
        'google',
        'microsoft',
        'salesforce',
        'salesforce-sandbox',
        'salesforce-mydomain',
        'github',
        'github-app',
        'slack',
        'slack-user',
        'custom-oauth2',
      ]),
    );
    const more = ['atlassian', 'hubspot', 'notion', 'zoom', 'dropbox', 'box', 'linear', 'asana', 'zendesk', 'intercom'];
    expect(catalog.ids()).toEqual(expect.arrayContaining(more));
    expect(catalog.ids().length).toBeGreaterThanOrEqual(20);
  });

  it('every built-in entry says whether a refresh may narrow the scope set, with its source (issue 14)', () => {
    for (const input of BUILT_IN_ENTRIES.filter((e) => e.id !== 'custom-oauth2')) {
      expect(input.downscope).toEqual({
        onRefresh: expect.any(Boolean),
        source: expect.stringMatching(/^[a-z0-9.-]+\.[a-z]{2,}[/ ]|^help\.|^docs\.|^api\./),
      });
    }
    // Documented: Microsoft (rotates: the refresher commits the new refresh token) and Dropbox.
    expect(catalog.ids().filter((id) => entry(id).downscope.onRefresh)).toEqual(['microsoft', 'dropbox']);
    expect(catalog.ids().filter((id) => downscopable(entry(id)))).toEqual(['microsoft', 'dropbox']);
    expect(entry('custom-oauth2').downscope.onRefresh).toBe(false);
  });

  it('expresses the PROVIDERS.md quirks as fields', () => {
    expect(entry('google').authorizeParams).toEqual({ access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' });
    expect(entry('google').refresh.rotation).toBe('never');
    expect(entry('google').revocation?.url).toBe('https://oauth2.googleapis.com/revoke');
    expect(entry('microsoft').scopes.required).toContain('offline_access');
    expect(entry('microsoft').refresh.rotation).toBe('always');
    expect(entry('microsoft').metadata).toEqual({ tid: 'id_token_claims.tid', oid: 'id_token_claims.oid' });
    expect(entry('salesforce').expiry).toEqual({
      whenMissing: { assumeSeconds: 900, param: 'session_timeout_seconds' },
      issuedAt: { path: 'issued_at', unit: 'ms' },
    });
    expect(entry('salesforce').metadata).toEqual({ instance_url: 'instance_url', id: 'id', issued_at: 'issued_at' });
    expect(entry('salesforce').refresh.rotation).toBe('optional');
    expect(entry('github').response.scopeSeparator).toBe(',');
    expect(entry('github').expiry.whenMissing).toBe('never');
    expect(entry('github').refresh.supported).toBe(false);
    expect(entry('github-app').refresh.rotation).toBe('always');
    expect(entry('slack').response.okFlag).toBe('ok');
    expect(entry('slack').scopes.separator).toBe(',');
    expect(entry('slack-user').scopes.param).toBe('user_scope');
    expect(entry('slack-user').response.accessToken).toBe('authed_user.access_token');
    expect(entry('slack').metadata).toMatchObject({ team_id: 'team.id', enterprise_id: 'enterprise.id', bot_user_id: 'bot_user_id' });
    expect(Object.values(entry('slack').metadata)).not.toContain('incoming_webhook.url'); // a credential
    expect(entry('notion').tokenEncoding).toBe('json');
    expect(entry('dropbox').authorizeParams).toEqual({ token_access_type: 'offline' });
    expect(entry('dropbox').revocation?.tokenIn).toBe('bearer');
  });

  it('fills templated URLs from validated parameters (Microsoft tenant, Salesforce hosts, Zendesk subdomain, {client_id})', () => {
    expect(catalog.resolve('microsoft', {}, 'c').tokenUrl).toBe('https://login.microsoftonline.com/common/oauth2/v2.0/token');
    expect(catalog.resolve('microsoft', { params: { tenant: '72f988bf-86f1-41af-91ab-2d7cd011db47' } }, 'c').authorizeUrl).toBe(
      'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/authorize',
    );
    expect(catalog.resolve('salesforce', {}, 'c').tokenUrl).toBe('https://login.salesforce.com/services/oauth2/token');
    expect(catalog.resolve('salesforce-sandbox', {}, 'c').tokenUrl).toBe('https://test.salesforce.com/services/oauth2/token');
    expect(catalog.resolve('salesforce', { params: { login_host: 'acme.my.salesforce.com' } }, 'c').revocationUrl).toBe(
      'https://acme.my.salesforce.com/services/oauth2/revoke',
    );
    expect(catalog.resolve('salesforce-mydomain', { params: { my_domain: 'acme--dev.sandbox' } }, 'c').tokenUrl).toBe(
      'https://acme--dev.sandbox.my.salesforce.com/services/oauth2/token',
    );
    expect(catalog.resolve('salesforce', { params: { session_timeout_seconds: '7200' } }, 'c').assumedLifetimeSeconds).toBe(7200);
    expect(catalog.resolve('zendesk', { params: { subdomain: 'acme' } }, 'c').tokenUrl).toBe('https://acme.zendesk.com/oauth/tokens');
    expect(catalog.resolve('github', {}, 'Iv1.8a61f9b3a7aba766').revocationUrl).toBe(
      'https://api.github.com/applications/Iv1.8a61f9b3a7aba766/grant',
    );
    expect(catalog.resolve('microsoft', { scopes: ['Mail.Read'] }, 'c').scopes).toEqual(['Mail.Read', 'offline_access']);
  });

  it.each([
    ['microsoft', { params: { tenant: 'evil.example/../x' } }, 'params.tenant'],
    ['microsoft', { params: { tenant: 'a@b' } }, 'params.tenant'],
    ['salesforce', { params: { login_host: 'evil.example' } }, 'params.login_host'],
    ['salesforce', { params: { login_host: 'login.salesforce.com.evil.example' } }, 'params.login_host'],
    ['salesforce-mydomain', {}, 'params.my_domain'],
    ['zendesk', { params: { subdomain: 'acme.evil.example/' } }, 'params.subdomain'],
    ['google', { params: { tenant: 'x' } }, 'params.tenant'],
    ['custom-oauth2', { authorize_url: 'https://a.example' }, 'token_url'],
    ['custom-oauth2', { authorize_url: 'https://a', token_url: 'https://t', provider_options: { nope: 1 } }, 'provider_options'],
    [
      'custom-oauth2',
      { authorize_url: 'https://a', token_url: 'https://t', provider_options: { authorize_params: { state: 'fixed' } } },
      'provider_options.authorize_params',
    ],
    [
      'custom-oauth2',
      { authorize_url: 'https://a', token_url: 'https://t', provider_options: { metadata: { refresh_token: 'refresh_token' } } },
      'provider_options.metadata.refresh_token',
    ],
    ['nope', {}, 'provider'],
  ])('%s with %j is refused, naming %s', (provider, config, field) => {
    expect(catalog.check(provider, config as Record<string, unknown>).map((e) => e.field)).toContain(field);
  });

  it('refuses bad entries at load: unknown fields, undeclared placeholders, unanchored patterns, reserved params, secret metadata', () => {
    expect(() => validateEntry({ ...google, extra: 1 } as never)).toThrow(/google/);
    expect(() => validateEntry({ ...google, tokenUrl: 'https://{region}.example/token' })).toThrow(/undeclared URL parameter \{region\}/);
    expect(() => validateEntry({ ...google, params: { region: { pattern: '[a-z]+', description: 'r' } } })).toThrow(/anchored/);
    expect(() => validateEntry({ ...google, authorizeParams: { redirect_uri: 'https://evil' } })).toThrow(/set by the flow/);
    expect(() => validateEntry({ ...google, metadata: { access_token: 'access_token' } })).toThrow(/secret/);
    expect(() => validateEntry({ ...google, tokenUrl: 'http://plain.example/token' })).toThrow(/https/);
    expect(() => new ProviderCatalog([...BUILT_IN_ENTRIES, google])).toThrow(/duplicate/);
  });

  it('a refresh response overrides only the paths it names: Slack user scopes stay comma-separated on refresh', () => {
    expect(entry('slack-user').refreshResponse).toEqual({
      accessToken: 'access_token',
      refreshToken: 'refresh_token',
      expiresIn: 'expires_in',
      scope: 'scope',
      tokenType: 'token_type',
    });
    expect({ ...entry('slack-user').response, ...entry('slack-user').refreshResponse }.scopeSeparator).toBe(',');
  });

  it('entries are frozen', () => {
    expect(Object.isFrozen(entry('google').authorizeParams)).toBe(true);
  });
});
