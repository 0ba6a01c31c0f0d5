import { createHash, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient } from '@azure/keyvault-keys';
import { anchorPayload, anchorSignatureValid, AuditAnchor, AuditAnchorJob } from '../../libs/audit-anchors';
import { loadConfig } from '../../libs/config';
import { AzureAuditSigner, AzureKeyProvider, createAuditSigner, SystemKeys } from '../../libs/crypto';
import { StaticTokenCredential } from '../../libs/crypto/azure-credential';
import type { AzureKeyProviderConfig } from '../../libs/crypto/azure-key-provider';
import { KeyVaultEmulator } from '../support/keyvault-emulator';
import { captureLogs, event, newAuditLog } from '../audit/support';
import { runCli } from '../keys/support';
import { createTestDatabase, TestDatabase } from '../support/database';

/**
 * Key Vault's `sign` through the real @azure/keyvault-keys client against the emulator, and the
 * anchor signer built on it: the digest goes to Key Vault, the signature verifies with the public key.
 */
let kv: KeyVaultEmulator;

beforeAll(async () => {
  kv = await KeyVaultEmulator.start();
});
afterAll(() => kv.dispose());

function sdkClient(): KeyClient {
  return new KeyClient(kv.url, new StaticTokenCredential(kv.token), {
    tlsOptions: { ca: kv.caPem },
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
  });
}

function config(): AzureKeyProviderConfig {
  return {
    kind: 'azure',
    vaultUrl: kv.url,
    keyName: 'kek',
    caFile: kv.caFile,
    disableChallengeResourceVerification: true,
    credential: { kind: 'static', token: kv.token },
  };
}

const head = { seq: '42', hash: 'ab'.repeat(32), at: '2026-12-04T15:00:00.000Z', vault: 'https://vault.example.com' };

describe('the emulator sign operation (real SDK)', () => {
  it('signs a digest with an EC P-256 key (ES256, r||s) and with an RSA key (RS256)', async () => {
    const ec = await kv.createKey('sign-ec', { kty: 'EC' });
    const rsa = await kv.createKey('sign-rsa', { kty: 'RSA', keySize: 2048 });
    const data = Buffer.from('the data whose digest is signed');
    const digest = createHash('sha256').update(data).digest();
    const client = sdkClient();

    const ecKey = await client.getKey('sign-ec');
    expect(ecKey.key).toMatchObject({ kty: 'EC', crv: 'P-256' });
    const es = await client.getCryptographyClient('sign-ec', { keyVersion: ec.version }).sign('ES256', digest);
    expect(es.keyID).toBe(ec.kid);
    expect(es.result).toHaveLength(64);
    const ecPublic = {
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(ecKey.key!.x!).toString('base64url'),
        y: Buffer.from(ecKey.key!.y!).toString('base64url'),
      },
      format: 'jwk' as const,
    };
    expect(verify('sha256', data, { ...ecPublic, dsaEncoding: 'ieee-p1363' }, Buffer.from(es.result))).toBe(true);
    expect(verify('sha256', Buffer.from('other data'), { ...ecPublic, dsaEncoding: 'ieee-p1363' }, Buffer.from(es.result))).toBe(false);

    const rsaKey = await client.getKey('sign-rsa');
    const rs = await client.getCryptographyClient('sign-rsa', { keyVersion: rsa.version }).sign('RS256', digest);
    const rsaPublic = {
      key: { kty: 'RSA', n: Buffer.from(rsaKey.key!.n!).toString('base64url'), e: Buffer.from(rsaKey.key!.e!).toString('base64url') },
      format: 'jwk' as const,
    };
    expect(verify('sha256', data, rsaPublic, Buffer.from(rs.result))).toBe(true);
    expect(kv.requestLog.filter((e) => e.operation === 'sign' && e.status === 200)).toHaveLength(2);
  });

  it('refuses a wrong digest size, an algorithm the key cannot do, and a disabled key', async () => {
    const ec = await kv.createKey('sign-ec-2', { kty: 'EC' });
    const crypto = sdkClient().getCryptographyClient('sign-ec-2', { keyVersion: ec.version });
    await expect(crypto.sign('ES256', Buffer.alloc(20))).rejects.toMatchObject({ statusCode: 400 });
    await expect(crypto.sign('RS256', Buffer.alloc(32))).rejects.toMatchObject({ statusCode: 400 });
    kv.setKeyEnabled('sign-ec-2', ec.version, false);
    await expect(crypto.sign('ES256', Buffer.alloc(32))).rejects.toMatchObject({ statusCode: 403 });
  });
});

describe('AzureAuditSigner', () => {
  it("signs anchors in Key Vault; verifiers get each version's public key, and nothing for a foreign kid", async () => {
    const first = await kv.createKey('audit', { kty: 'EC' });
    const signer = new AzureAuditSigner(config(), 'audit');
    await signer.init();
    const s1 = await signer.sign(anchorPayload(head));
    expect(s1).toMatchObject({ alg: 'ES256', kid: first.kid });
    const a1: AuditAnchor = { ...head, alg: s1.alg, kid: s1.kid, sig: s1.sig.toString('base64url') };
    expect(anchorSignatureValid(a1, (await signer.publicKey(a1.kid))!)).toBe(true);

    // After a rotation a fresh signer signs with the new version; the old anchor still verifies.
    const second = await kv.rotateKey('audit');
    const next = new AzureAuditSigner(config(), 'audit');
    await next.init();
    const s2 = await next.sign(anchorPayload(head));
    expect(s2.kid).toBe(second.kid);
    expect(anchorSignatureValid(a1, (await next.publicKey(a1.kid))!)).toBe(true);
    expect(anchorSignatureValid({ ...a1, seq: '43' }, (await next.publicKey(a1.kid))!)).toBe(false);

    await kv.createKey('other', { kty: 'EC' });
    expect(await next.publicKey(`${kv.url}/keys/other/${'a'.repeat(32)}`)).toBeUndefined();
    expect(await next.publicKey(`https://elsewhere.example/keys/audit/${first.version}`)).toBeUndefined();
    expect(await next.publicKey(`${kv.url}/keys/audit/${'f'.repeat(32)}`)).toBeUndefined();
  });

  it('signs with an RSA key too (RS256)', async () => {
    await kv.createKey('audit-rsa', { kty: 'RSA-HSM', keySize: 3072 });
    const signer = new AzureAuditSigner(config(), 'audit-rsa');
    await signer.init();
    const s = await signer.sign(anchorPayload(head));
    expect(s.alg).toBe('RS256');
    expect(
      anchorSignatureValid({ ...head, alg: s.alg, kid: s.kid, sig: s.sig.toString('base64url') }, (await signer.publicKey(s.kid))!),
    ).toBe(true);
  });

  it('refuses at start a key that may not sign', async () => {
    await kv.createKey('audit-nosign', { kty: 'EC', keyOps: ['verify'] });
    await expect(new AzureAuditSigner(config(), 'audit-nosign').init()).rejects.toThrow('does not permit sign');
  });
});

describe('audit verify --anchors with KEY_PROVIDER=azure', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('verifies anchors signed in Key Vault with the public key fetched from Key Vault, and catches a cut tail', async () => {
    await kv.createKey('kek', { kty: 'RSA-HSM', keySize: 3072 });
    await kv.createKey('audit-e2e', { kty: 'EC' });
    const dir = await mkdtemp(join(tmpdir(), 'anchors-azure-'));
    const file = join(dir, 'anchors.jsonl');
    const env = {
      DATABASE_URL: db.url,
      VAULT_PUBLIC_URL: 'https://vault.test',
      ...kv.vaultEnv(),
      AZURE_KEYVAULT_AUDIT_KEY_NAME: 'audit-e2e',
      AUDIT_ANCHOR_FILE: file,
      LOG_LEVEL: 'silent',
    };
    const config = loadConfig({ ...env, NODE_ENV: 'test' });
    const kek = new AzureKeyProvider(config.keyProvider as AzureKeyProviderConfig);
    await kek.init();
    const audit = newAuditLog(db.ds, await new SystemKeys(db.ds, kek).get('audit-mac'));
    const signer = createAuditSigner(config)!;
    const job = new AuditAnchorJob(db.ds, config, signer, { run: false });
    const logs = captureLogs();
    try {
      for (let i = 1; i <= 4; i++) await audit.record(event('t1', { details: { i } }));
      kv.resetLog();
      const anchor = await job.anchor();
      expect(anchor).toMatchObject({ seq: '4', alg: 'ES256', kid: expect.stringContaining(`${kv.url}/keys/audit-e2e/`) });
      expect(kv.requestLog.filter((e) => e.operation === 'sign' && e.status === 200)).toHaveLength(1);
    } finally {
      logs.restore();
    }
    expect((await runCli(['audit', 'verify', '--anchors', file], env)).code).toBe(0);
    await db.ds.transaction(async (m) => {
      await m.query('SET LOCAL session_replication_role = replica');
      await m.query('DELETE FROM audit_events WHERE seq > 2');
      await m.query('UPDATE audit_chain_head SET seq = 2, hash = (SELECT hash FROM audit_events WHERE seq = 2)');
    });
    expect((await runCli(['audit', 'verify'], env)).code).toBe(0);
    const r = await runCli(['audit', 'verify', '--anchors', file], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('anchor seq=4');
    await rm(dir, { recursive: true, force: true });
  });
});
