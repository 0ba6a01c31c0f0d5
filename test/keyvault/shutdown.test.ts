import { setTimeout as sleep } from 'node:timers/promises';
import { KeyVaultEmulator } from '../support/keyvault-emulator';
import { startTestVault, TestVault } from '../support/vault';

/**
 * Key Vault down at boot: the vault starts not ready and retries the KEK load in the background
 * (CryptoModule). A retry in flight when the vault closes must not, on landing, start anything
 * after shutdown: it used to mark the provider ready and so start the keyring's health probe,
 * which then called Key Vault every VAULT_KEY_HEALTH_TTL_MS for the rest of the process's life
 * (unref'd, so a process exited, but a test run or an embedding host went on probing).
 */
describe('the KEK load retried at boot, at shutdown', () => {
  let kv: KeyVaultEmulator | undefined;
  let v: TestVault | undefined;
  afterAll(async () => {
    await v?.db.drop();
    await kv?.dispose();
  });

  it('a retry landing after close starts no health probe: Key Vault hears nothing more from the closed vault', async () => {
    kv = await KeyVaultEmulator.start();
    await kv.createKey('kek', { kty: 'RSA', keySize: 3072 });
    // The boot load fails (its first attempt and 3 SDK retries); the next load is held up in flight.
    kv.inject({ kind: 'error', status: 503, operation: 'get', count: 4 });
    kv.inject({ kind: 'latency', ms: 3000, operation: 'get', count: 1 });
    v = await startTestVault({
      KEY_PROVIDER: 'azure',
      AZURE_KEYVAULT_URL: kv.url,
      AZURE_KEYVAULT_KEY_NAME: 'kek',
      AZURE_KEYVAULT_CA_FILE: kv.caFile,
      AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
      AZURE_KEYVAULT_CREDENTIAL: `static:${kv.token}`,
      VAULT_KEY_HEALTH_TTL_MS: '200',
    });
    expect((await v.call('GET', '/readyz')).status).toBe(503);
    const k = kv;
    const gets = () => k.requestLog.filter((e) => e.authorized && e.operation === 'get');
    // The background retry's request has reached Key Vault and waits there.
    for (let i = 0; i < 250 && !gets().some((e) => e.status === 0); i++) await sleep(20);
    expect(gets().filter((e) => e.status === 0)).toHaveLength(1);

    await v.vault.close();
    // The retry lands (the KEK loads) after the vault closed.
    for (let i = 0; i < 250 && gets().some((e) => e.status === 0); i++) await sleep(20);
    expect(gets().map((e) => e.status)).toEqual([503, 503, 503, 503, 200]);
    // Well past several probe intervals: no probe (or anything else) calls Key Vault any more.
    const heard = k.requestLog.length;
    await sleep(1500);
    expect(k.requestLog.slice(heard).map((e) => `${e.operation} ${e.status}`)).toEqual([]);
  });
});
