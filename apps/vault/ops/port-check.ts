import { createServer } from 'node:net';

/** The listen address is taken (or not ours to bind): said before anything else starts. */
export class PortUnavailableError extends Error {
  constructor(host: string, port: number, code: string) {
    const hint = code === 'EADDRINUSE' ? 'another process is using it; stop it or set PORT' : 'set HOST or PORT';
    super(`cannot listen on ${host}:${port} (${code}): ${hint}`);
    this.name = 'PortUnavailableError';
  }
}

/**
 * Binds and releases the address once. Port 0 (any free port) always passes. Another process
 * could still take the port between this check and the real listen; then listen fails as before.
 */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new PortUnavailableError(host, port, err.code ?? 'error')));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
