/**
 * The Key Vault emulator in a process of its own for the benchmark (its RSA work must not
 * share a core with the load generator). Talks to its parent over IPC:
 * { cmd: 'rotate' } → the new versioned key id; { cmd: 'counts' } → requests by "operation status";
 * { cmd: 'reset' } clears the request log.
 */
import { KeyVaultEmulator } from '../test/support/keyvault-emulator';

async function main(): Promise<void> {
  const kv = await KeyVaultEmulator.start();
  await kv.createKey('kek', { kty: 'RSA', keySize: 3072 });
  process.on('message', async (m: { id: number; cmd: string }) => {
    let result: unknown;
    if (m.cmd === 'rotate') result = (await kv.rotateKey('kek')).kid;
    if (m.cmd === 'reset') kv.resetLog();
    if (m.cmd === 'counts') {
      const counts: Record<string, number> = {};
      for (const e of kv.requestLog) counts[`${e.operation} ${e.status}`] = (counts[`${e.operation} ${e.status}`] ?? 0) + 1;
      result = counts;
    }
    if (m.cmd === 'stop') {
      await kv.dispose();
      process.exit(0);
    }
    process.send?.({ id: m.id, result });
  });
  process.send?.({ id: 0, result: { url: kv.url, caFile: kv.caFile, token: kv.token } });
}

void main();
