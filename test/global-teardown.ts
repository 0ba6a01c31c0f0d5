import { rmSync } from 'node:fs';
import type { EmbeddedRun } from './global-setup';

/** Stops the run's embedded PostgreSQL, if global-setup started one, and removes its folder from the temp dir. */
export default async function globalTeardown(): Promise<void> {
  const run = (globalThis as { __embeddedPg?: EmbeddedRun }).__embeddedPg;
  if (!run) return;
  delete (globalThis as { __embeddedPg?: EmbeddedRun }).__embeddedPg;
  try {
    await run.stop();
  } finally {
    rmSync(run.dir, { recursive: true, force: true });
  }
}
