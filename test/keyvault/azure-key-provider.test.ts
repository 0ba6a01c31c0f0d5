import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { inspect } from 'node:util';
import { KeyClient } from '@azure/keyvault-keys';
import { StaticTokenCredential } from '../../libs/crypto/azure-credential';
import { AzureKeyProvider, AzureKeyProviderConfig, AzureKeyProviderOptions } from '../../libs/crypto/azure-key-provider';
import { KeyProviderUnavailableError, KeyUnwrapError } from '../../libs/crypto/key-provider';
import { KeyVaultEmulator, Operation, RequestLogEntry } from '../support/keyvault-emulator';

/** Short retries so failure paths finish in milliseconds; Retry-After is still honoured as sent. */
const FAST: AzureKeyProviderOptions = { retry: { maxRetries: 2, retryDelayInMs: 20, maxRetryDelayInMs: 50 }, deadlineMs: 10000 };

let kv: KeyVaultEmulator;

beforeAll(async () => {
  kv = await KeyVaultEmulator.start();
  await kv.createKey('kek', { kty: 'RSA-HSM', keySize: 3072 });
});
afterAll(() => kv.dispose());
afterEach(async () => {
  kv.clearFaults();
  await kv.restart();
});

function config(over: Partial<AzureKeyProviderConfig> = {}): AzureKeyProviderConfig {
  return {
    kind: 'azure',
    vaultUrl: kv.url,
    keyName: 'kek',
    caFile: kv.caFile,
    disableChallengeResourceVerification: true,
    credential: { kind: 'static', token: kv.token },
    ...over,
  };
}

async function provider(over: Partial<AzureKeyProviderConfig> = {}, opts: AzureKeyProviderOptions = FAST): Promise<AzureKeyProvider> {
  const p = new AzureKeyProvider(config(over), opts);
  await p.init();
  return p;
}

function sdkClient(token = kv.token): KeyClient {
  return new KeyClient(kv.url, new StaticTokenCredential(token), {
    tlsOptions: { ca: kv.caPem },
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
  });
}

const calls = (op: Operation): RequestLogEntry[] => kv.requestLog.filter((e) => e.operation === op);
const versionOf = (kid: string): string => kid.split('/').pop()!;

describe('Key Vault emulator with the real SDK', () => {
  it('answers unauthenticated requests with the Key Vault bearer challenge and error JSON', async () => {
    const res = await new Promise<{ status?: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = request(`${kv.url}/keys/kek/?api-version=7.5`, { ca: kv.caPem }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(
      /^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[0-9a-f-]{36}", resource="https:\/\/vault\.azure\.net"$/,
    );
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'Unauthorized', message: expect.any(String) } });
  });

  it('lets KeyClient authenticate through the challenge, then create, get, rotate, list versions and wrap/unwrap', async () => {
    kv.resetLog();
    const client = sdkClient();
    const created = await client.createKey('sdk-key', 'RSA', { keySize: 2048 });
    expect(created.id).toMatch(new RegExp(`^${kv.url}/keys/sdk-key/[0-9a-f]{32}$`));
    expect(kv.requestLog.map((e) => [e.operation, e.status, e.authorized])).toEqual([
      ['create', 401, false],
      ['create', 200, true],
    ]);
    expect(kv.requestLog[1].apiVersion).toBeTruthy();

    const rotated = await client.rotateKey('sdk-key');
    expect((await client.getKey('sdk-key')).id).toBe(rotated.id);
    expect((await client.getKey('sdk-key', { version: created.properties.version })).id).toBe(created.id);
    const versions: string[] = [];
    for await (const v of client.listPropertiesOfKeyVersions('sdk-key')) versions.push(v.id!);
    expect(versions.sort()).toEqual([created.id, rotated.id].sort());

    const crypto = client.getCryptographyClient('sdk-key', { keyVersion: created.properties.version });
    const secret = randomBytes(32);
    for (const alg of ['RSA-OAEP', 'RSA-OAEP-256'] as const) {
      const wrapped = await crypto.wrapKey(alg, secret);
      expect(Buffer.from((await crypto.unwrapKey(alg, wrapped.result)).result)).toEqual(secret);
    }
    await expect(client.getKey('no-such-key')).rejects.toMatchObject({ statusCode: 404, code: 'KeyNotFound' });
    expect(kv.requestLog.filter((e) => e.status === 401)).toHaveLength(1); // one challenge per client
  });

  it('rejects a wrong token', async () => {
    await expect(sdkClient('not-the-token').getKey('kek')).rejects.toMatchObject({ statusCode: 401 });
    await expect(provider({ credential: { kind: 'static', token: 'not-the-token' } })).rejects.toBeInstanceOf(KeyProviderUnavailableError);
  });

  it('keeps the SDK challenge-resource check unless it is disabled', async () => {
    const strict = new KeyClient(kv.url, new StaticTokenCredential(kv.token), { tlsOptions: { ca: kv.caPem } });
    await expect(strict.getKey('kek')).rejects.toThrow(/does not match the requested domain/);
  });
});

describe('AzureKeyProvider', () => {
  it('wraps locally without any Key Vault call and unwraps remotely with one unwrapkey call', async () => {
    const p = await provider();
    await expect(p.health()).resolves.toBeUndefined();
    kv.resetLog();
    const tk = randomBytes(32);
    const w = await p.wrap(tk);
    expect(kv.requestLog).toEqual([]);
    expect(w.keyId).toBe(p.currentKeyId());
    expect(w.keyId).toMatch(new RegExp(`^${kv.url}/keys/kek/[0-9a-f]{32}$`));
    expect(w.wrapped).toHaveLength(384); // RSA 3072

    expect(await p.unwrap(w.keyId, w.wrapped)).toEqual(tk);
    expect(calls('unwrapkey')).toEqual([expect.objectContaining({ status: 200, keyName: 'kek', version: versionOf(w.keyId) })]);

    kv.resetLog(); // steady state: exactly one request per unwrap
    expect(await p.unwrap(w.keyId, w.wrapped)).toEqual(tk);
    expect(kv.requestLog.map((e) => [e.operation, e.status])).toEqual([['unwrapkey', 200]]);
  });

  it('follows a rotation on refresh() and still unwraps old versions by their versioned id', async () => {
    const first = await kv.createKey('kek-rot', { keySize: 2048 });
    const p = await provider({ keyName: 'kek-rot' });
    const old = await p.wrap(Buffer.from('tenant key one'));
    expect(old.keyId).toBe(first.kid);

    const second = await kv.rotateKey('kek-rot');
    expect(p.currentKeyId()).toBe(first.kid); // cached until refresh
    await expect(p.refresh()).resolves.toBe(second.kid);
    const next = await p.wrap(Buffer.from('tenant key two'));
    expect(next.keyId).toBe(second.kid);

    kv.resetLog();
    expect((await p.unwrap(old.keyId, old.wrapped)).toString()).toBe('tenant key one');
    expect((await p.unwrap(next.keyId, next.wrapped)).toString()).toBe('tenant key two');
    expect(calls('unwrapkey').map((e) => e.version)).toEqual([first.version, second.version]);
    await expect(p.unwrap(second.kid, old.wrapped)).rejects.toBeInstanceOf(KeyUnwrapError);
  });

  it('honours Retry-After on 429 and succeeds within its retries', async () => {
    const p = await provider();
    const w = await p.wrap(randomBytes(32));
    await p.unwrap(w.keyId, w.wrapped); // warm: the version's client has fetched its key
    kv.resetLog();
    kv.inject({ kind: 'throttle', retryAfterSeconds: 1, count: 2, operation: 'unwrapkey' });
    await p.unwrap(w.keyId, w.wrapped);
    const log = calls('unwrapkey');
    expect(log.map((e) => e.status)).toEqual([429, 429, 200]);
    // retryDelayInMs is 20 ms, so ~1 s gaps can only come from Retry-After.
    expect(log[1].at - log[0].at).toBeGreaterThanOrEqual(950);
    expect(log[2].at - log[1].at).toBeGreaterThanOrEqual(950);
  });

  it('gives up with KeyProviderUnavailableError when throttling outlasts the retries or the Retry-After budget', async () => {
    const p = await provider();
    const w = await p.wrap(randomBytes(32));
    await p.unwrap(w.keyId, w.wrapped);
    kv.resetLog();
    kv.inject({ kind: 'throttle', retryAfterSeconds: 1, count: Infinity, operation: 'unwrapkey' });
    await expect(p.unwrap(w.keyId, w.wrapped)).rejects.toBeInstanceOf(KeyProviderUnavailableError);
    expect(calls('unwrapkey').map((e) => e.status)).toEqual([429, 429, 429]); // 1 + maxRetries

    kv.clearFaults();
    kv.resetLog();
    kv.inject({ kind: 'throttle', retryAfterSeconds: 3600, count: Infinity });
    await expect(p.unwrap(w.keyId, w.wrapped)).rejects.toBeInstanceOf(KeyProviderUnavailableError);
    expect(kv.requestLog).toHaveLength(1); // no hour-long sleep
  });

  it('retries 5xx and dropped connections, and reports persistent ones as unavailable', async () => {
    const p = await provider();
    const w = await p.wrap(randomBytes(32));
    await p.unwrap(w.keyId, w.wrapped);
    kv.resetLog();
    kv.inject({ kind: 'error', status: 503, operation: 'unwrapkey' });
    kv.inject({ kind: 'drop', operation: 'unwrapkey' });
    await expect(p.unwrap(w.keyId, w.wrapped)).resolves.toHaveLength(32);
    expect(calls('unwrapkey').map((e) => e.status)).toEqual([503, 0, 200]);

    kv.inject({ kind: 'error', status: 500, count: Infinity });
    await expect(p.unwrap(w.keyId, w.wrapped)).rejects.toBeInstanceOf(KeyProviderUnavailableError);
    await expect(p.health()).rejects.toBeInstanceOf(KeyProviderUnavailableError);
  });

  it('fails fast with KeyProviderUnavailableError when Key Vault is unreachable or too slow, and recovers', async () => {
    const p = await provider({}, { ...FAST, deadlineMs: 400 });
    const w = await p.wrap(randomBytes(32));
    await p.unwrap(w.keyId, w.wrapped);

    await kv.stop();
    await expect(p.unwrap(w.keyId, w.wrapped)).rejects.toBeInstanceOf(KeyProviderUnavailableError);
    const down = await p.health().catch((e: unknown) => e);
    expect(down).toBeInstanceOf(KeyProviderUnavailableError);
    expect(String((down as Error).cause)).toMatch(/ECONNREFUSED/);
    expect(await p.wrap(randomBytes(32))).toBeDefined(); // wrap is local: writes keep working

    await kv.restart();
    await expect(p.health()).resolves.toBeUndefined();
    kv.inject({ kind: 'latency', ms: 1000, operation: 'unwrapkey' });
    await expect(p.unwrap(w.keyId, w.wrapped)).rejects.toBeInstanceOf(KeyProviderUnavailableError);
    await expect(p.unwrap(w.keyId, w.wrapped)).resolves.toHaveLength(32);
  });

  it('turns tampered ciphertext into KeyUnwrapError that carries no key material', async () => {
    const p = await provider();
    const tk = randomBytes(32);
    const w = await p.wrap(tk);
    const tampered = Buffer.from(w.wrapped);
    tampered[100] ^= 0x01;
    const err = await p.unwrap(w.keyId, tampered).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyUnwrapError);
    expect(calls('unwrapkey').at(-1)?.status).toBe(400);
    const dump = [(err as Error).message, JSON.stringify(err), inspect(err, { depth: 10, showHidden: true })].join('\n');
    for (const bytes of [tk, w.wrapped, tampered]) {
      for (const enc of ['hex', 'base64', 'base64url'] as const) expect(dump).not.toContain(bytes.toString(enc));
    }
    expect(dump).not.toContain(kv.token);
  });

  it('refuses key ids of another vault or key without calling anyone', async () => {
    const p = await provider();
    const w = await p.wrap(randomBytes(32));
    const version = versionOf(w.keyId);
    kv.resetLog();
    for (const keyId of [
      `https://evil.example/keys/kek/${version}`,
      `${kv.url}/keys/other/${version}`,
      `${kv.url}/keys/kek`,
      `${kv.url}/keys/kek/${version}/extra`,
      'not a url',
    ]) {
      await expect(p.unwrap(keyId, w.wrapped)).rejects.toBeInstanceOf(KeyUnwrapError);
    }
    expect(kv.requestLog).toEqual([]);
    // Well-formed but unknown version: Key Vault says 404, which is an unwrap failure, not an outage.
    await expect(p.unwrap(`${kv.url}/keys/kek/${'0'.repeat(32)}`, w.wrapped)).rejects.toBeInstanceOf(KeyUnwrapError);
    expect(kv.requestLog.map((e) => [e.operation, e.status])).toEqual([['get', 404]]);
  });

  it('verifies TLS: without the emulator CA the connection is refused', async () => {
    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
    kv.resetLog();
    const untrusting = new KeyClient(kv.url, new StaticTokenCredential(kv.token), { disableChallengeResourceVerification: true });
    const err = await untrusting.getKey('kek').catch((e: unknown) => e);
    expect((err as { code?: string }).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    await expect(provider({ caFile: undefined })).rejects.toBeInstanceOf(KeyProviderUnavailableError);
    expect(kv.requestLog).toEqual([]); // no HTTP request got through the handshake
  });

  it('reports a missing key as unavailable at init, naming the Key Vault error code', async () => {
    const err = await provider({ keyName: 'missing' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyProviderUnavailableError);
    expect(String((err as Error).cause)).toMatch(/status 404, code KeyNotFound/);
  });
});
