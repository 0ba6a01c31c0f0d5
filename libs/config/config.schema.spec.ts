import { ConfigError, loadConfig } from './config.schema';

describe('loadConfig', () => {
  it('defaults to the embedded database and the local key provider', () => {
    const c = loadConfig({});
    expect(c.database.url).toBeUndefined();
    expect(c.keyProvider.kind).toBe('local');
    expect(c.port).toBe(8080);
    expect(c.publicUrl).toBe('http://localhost:8080');
    expect(c.audience).toBe(c.publicUrl);
  });

  it('names every bad variable at once, without echoing values', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://u:hunter2@x/db',
        KEY_PROVIDER: 'azure',
        TRUSTED_ISSUERS: '{"not":"an array"}',
        VAULT_CLOCK_SKEW_SECONDS: '-1',
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    for (const name of ['PORT', 'DATABASE_URL', 'TRUSTED_ISSUERS', 'VAULT_CLOCK_SKEW_SECONDS']) expect(err!.message).toContain(name);
    expect(err!.message).not.toContain('hunter2');
  });

  it('azure needs its URL and key name; local refuses production', () => {
    expect(() => loadConfig({ KEY_PROVIDER: 'azure' })).toThrow(/AZURE_KEYVAULT_URL[\s\S]*AZURE_KEYVAULT_KEY_NAME/);
    expect(() => loadConfig({ NODE_ENV: 'production', VAULT_PUBLIC_URL: 'https://vault.example.com' })).toThrow(/KEY_PROVIDER/);
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        KEY_PROVIDER: 'azure',
        AZURE_KEYVAULT_URL: 'https://kv.vault.azure.net',
        AZURE_KEYVAULT_KEY_NAME: 'kek',
      }),
    ).toThrow(/VAULT_PUBLIC_URL/);
  });

  it('reads TRUSTED_ISSUERS from a file with @path', () => {
    const { writeFileSync, mkdtempSync } = require('node:fs');
    const dir = mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'cfg-'));
    const file = `${dir}/issuers.json`;
    writeFileSync(
      file,
      JSON.stringify([{ issuer: 'https://sts.example.com', jwks_uri: 'https://sts.example.com/jwks', algorithms: ['RS256'] }]),
    );
    const c = loadConfig({ TRUSTED_ISSUERS: `@${file}` });
    expect(c.trustedIssuers[0]).toMatchObject({ issuer: 'https://sts.example.com', tenant_claim: 'tid' });
  });
  it('audit anchors: every 300 s by default, the API emits them only on the embedded default, bad values are named', () => {
    expect(loadConfig({}).auditAnchors).toEqual({ intervalMs: 300_000, file: undefined, inProcess: true });
    const c = loadConfig({
      DATABASE_URL: 'postgres://db/vault',
      AUDIT_ANCHOR_INTERVAL_SECONDS: '60',
      AUDIT_ANCHOR_FILE: '/var/anchors/vault.jsonl',
    });
    expect(c.auditAnchors).toEqual({ intervalMs: 60_000, file: '/var/anchors/vault.jsonl', inProcess: false });
    const azure = { KEY_PROVIDER: 'azure', AZURE_KEYVAULT_URL: 'https://kv.vault.azure.net', AZURE_KEYVAULT_KEY_NAME: 'kek' };
    expect(loadConfig({ ...azure, AZURE_KEYVAULT_AUDIT_KEY_NAME: 'vault-audit' }).keyProvider).toMatchObject({
      auditKeyName: 'vault-audit',
    });
    expect(() => loadConfig({ ...azure, AUDIT_ANCHOR_INTERVAL_SECONDS: '0', AZURE_KEYVAULT_AUDIT_KEY_NAME: 'no/such' })).toThrow(
      /AUDIT_ANCHOR_INTERVAL_SECONDS[\s\S]*AZURE_KEYVAULT_AUDIT_KEY_NAME/,
    );
  });

  it('approval mail: SMTP_URL and SMTP_FROM together or not at all; smtp(s) URLs and addresses only', () => {
    expect(loadConfig({}).mail).toBeUndefined();
    expect(loadConfig({ SMTP_URL: 'smtp://mail.example:587', SMTP_FROM: 'Vault <vault@example.com>' }).mail).toEqual({
      smtpUrl: 'smtp://mail.example:587',
      from: 'Vault <vault@example.com>',
    });
    expect(() => loadConfig({ SMTP_URL: 'smtp://mail.example' })).toThrow(/SMTP_URL, SMTP_FROM: set both/);
    expect(() => loadConfig({ SMTP_URL: 'https://mail.example', SMTP_FROM: 'v@example.com' })).toThrow(/SMTP_URL/);
    expect(() => loadConfig({ SMTP_URL: 'smtp://mail.example', SMTP_FROM: 'nobody' })).toThrow(/SMTP_FROM/);
    expect(() => loadConfig({ SMTP_URL: 'smtp://u:hunter2@mail.example', SMTP_FROM: 'x' })).not.toThrow(/hunter2/);
  });
});
