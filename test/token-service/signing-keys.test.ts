import { createPrivateKey, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { DataSource } from 'typeorm';
import { loadDevIssuer } from '../../libs/auth';
import { TrustedIssuerRegistry } from '../../libs/auth';
import { VAULT_CONFIG, VaultConfig } from '../../libs/config';
import { SystemKeys } from '../../libs/crypto';
import { TokenSigningKeys } from '../../libs/token-service';
import { startTestVault, TestVault } from '../support/vault';
import { AUDIENCE, basic, decode, exchangeParams } from './support';

/**
 * The token service's signing keys: sealed under a KEK-wrapped system key, published at
 * /.well-known/jwks.json, rotated with an overlap during which tokens signed with the previous
 * key keep releasing, on this replica and on others sharing the database.
 */
describe('token signing keys', () => {
  let v: TestVault;
  let secret: string;
  const T = 'acme';
  const dataDir = mkdtempSync(join(tmpdir(), 'vault-dev-issuer-'));

  beforeAll(async () => {
    // The development issuer is on here, as it is for the embedded default (README flow).
    v = await startTestVault({ VAULT_DEV_ISSUER: 'true', VAULT_DATA_DIR: dataDir });
    const admin = v.issuer.adminToken(T);
    const setup: Array<[string, unknown]> = [
      ['/v1/admin/integrations/openai', { provider: 'api_key' }],
      ['/v1/admin/policies/mcp-openai', { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' }],
      ['/v1/admin/connections/openai/users/alice', { api_key: 'sk-alice' }],
    ];
    for (const [path, body] of setup) expect((await v.call('PUT', path, { token: admin, body })).status).toBe(201);
    const agent = await v.call('PUT', '/v1/admin/agents/mcp-1', {
      token: admin,
      body: { name: 'MCP', auth_method: 'client_secret_basic' },
    });
    secret = agent.body.client_secret;
  });
  afterAll(() => v?.close());

  const keys = () => v.vault.app.get(TokenSigningKeys);
  const jwks = async () => ((await (await fetch(`${v.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys;
  async function issue(subject = v.issuer.sign({ sub: 'alice', tid: T })): Promise<string> {
    const form = new URLSearchParams(exchangeParams(subject, 'connections:openai'));
    const res = await fetch(`${v.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic('mcp-1', secret) },
      body: form,
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }
  const release = async (token: string) => (await v.call('POST', '/v1/connections/openai/token', { token })).status;

  /** Another replica of the vault on the same database: its own in-memory key set. */
  function replica(): TokenSigningKeys {
    const app = v.vault.app;
    return TokenSigningKeys.onDataSource(app.get(DataSource), app.get(SystemKeys), app.get<VaultConfig>(VAULT_CONFIG));
  }

  it('the vault is a trusted issuer of its own tokens, and its private key is stored sealed', async () => {
    expect(v.vault.app.get(TrustedIssuerRegistry).get(AUDIENCE)).toBeDefined();
    const token = await issue();
    const rows = await v.db.ds.query(`SELECT kid, alg, status, private_key_sealed, public_jwk FROM vault.signing_keys`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kid: decode(token).header.kid, alg: 'ES256', status: 'active' });
    expect(rows[0].public_jwk.d).toBeUndefined();
    expect(() => createPrivateKey({ key: rows[0].private_key_sealed, format: 'der', type: 'pkcs8' })).toThrow();
    const sealing = await v.db.ds.query(`SELECT purpose, kek_key_id FROM vault.system_keys WHERE purpose = 'token-signing'`);
    expect(sealing).toHaveLength(1);
    expect(await jwks()).toEqual([expect.objectContaining({ kid: rows[0].kid })]);
  });

  it('rotation: new tokens use the new key, tokens signed before keep releasing, both keys are published', async () => {
    const before = await issue();
    const oldKid = decode(before).header.kid;
    const { kid, previous } = await keys().rotate();
    expect(previous).toBe(oldKid);
    const after = await issue();
    expect(decode(after).header.kid).toBe(kid);
    expect((await jwks()).map((k) => k.kid)).toEqual([kid, oldKid]);
    expect(await release(before)).toBe(200);
    expect(await release(after)).toBe(200);
    // The demoted key signs nothing more: its private half is gone from the database.
    const [row] = await v.db.ds.query(`SELECT status, length(private_key_sealed) AS n, rotated_at FROM vault.signing_keys WHERE kid = $1`, [
      oldKid,
    ]);
    expect(row).toMatchObject({ status: 'previous', n: 0 });
  });

  it('a rotation on another replica reaches this one: its tokens verify here at once', async () => {
    const other = replica();
    const { kid } = await other.rotate();
    const key = await other.signingKey();
    expect(key.kid).toBe(kid);
    const now = Math.floor(Date.now() / 1000);
    const token = jwt.sign(
      {
        iss: AUDIENCE,
        aud: AUDIENCE,
        sub: 'alice',
        tid: T,
        act: { sub: 'mcp-1' },
        scope: 'connections:openai',
        client_id: 'mcp-1',
        jti: randomUUID(),
        iat: now,
        exp: now + 60,
      },
      key.privateKey,
      { algorithm: 'ES256', keyid: key.kid, header: { alg: 'ES256', typ: 'at+jwt' } },
    );
    // This replica still has the older key set cached; the unknown kid makes it re-read.
    expect(await release(token)).toBe(200);
    // And whatever it signs meanwhile stays verifiable everywhere (the old key is still published).
    expect(await release(await issue())).toBe(200);
  });

  it('keys past the overlap are retired: no longer published, their tokens refused', async () => {
    const set = (await replica().jwks()).keys.map((k) => k.kid as string);
    expect(set.length).toBe(3);
    const oldest = set[2];
    await v.db.ds.query(`UPDATE vault.signing_keys SET rotated_at = now() - interval '1 day' WHERE kid = $1`, [oldest]);
    const fresh = replica();
    expect((await fresh.jwks()).keys.map((k) => k.kid)).not.toContain(oldest);
    await expect(fresh.publicKey(oldest)).rejects.toThrow();
    await fresh.rotate();
    const [row] = await v.db.ds.query(`SELECT status FROM vault.signing_keys WHERE kid = $1`, [oldest]);
    expect(row.status).toBe('retired');
    await expect(fresh.publicKey('no-such-kid')).rejects.toThrow();
  });

  it('a development-issuer token (npm run cli -- dev-token) is an acceptable subject token', async () => {
    const dev = await loadDevIssuer(dataDir, AUDIENCE);
    // What `dev-token --sub alice --tenant acme` mints.
    const subject = dev.sign({ sub: 'alice', tid: T, aud: AUDIENCE, scope: '' });
    const token = await issue(subject);
    expect(decode(token).payload).toMatchObject({ iss: AUDIENCE, sub: 'alice', tid: T, act: { sub: 'mcp-1' } });
    expect(await release(token)).toBe(200);
  });
});
