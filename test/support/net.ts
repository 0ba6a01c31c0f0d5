import { AddressInfo, createServer } from 'node:net';

/**
 * A port on 127.0.0.1 that nothing listens on: for a server that must know its own URL before it
 * starts (the vault's public URL, a provider's redirect URI), or for a peer that cannot be reached.
 */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
