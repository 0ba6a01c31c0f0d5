import { Controller, Get } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Keyring } from '../../../libs/crypto';
import { DomainError } from '../../../libs/kernel';

/** How long a readiness check may take before it counts as unavailable. */
const READY_CHECK_MS = 2000;

function within<T>(check: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('readiness check timed out')), READY_CHECK_MS);
  });
  return Promise.race([check, deadline]).finally(() => clearTimeout(timer));
}

@Controller()
export class HealthController {
  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
  ) {}

  /** The process is up. */
  @Get('healthz')
  healthz() {
    return { status: 'ok' };
  }

  /** Ready to serve: the database answers and the key provider can unwrap. */
  @Get('readyz')
  async readyz() {
    // A hung database or provider is "not ready" now, not after the pool's query timeout (12 s):
    // load balancers and orchestrators probe with short timeouts of their own.
    // The key provider's state comes from actual failures and the keyring's background probe (a
    // throttling Key Vault is not an outage: cached keys serve); strict mode reads it live.
    const checks = await Promise.allSettled([within(this.ds.query('SELECT 1')), within(this.keyring.checkProvider())]);
    const [db, kp] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : 'unavailable'));
    if (db !== 'ok' || kp !== 'ok') {
      throw new DomainError('unavailable', 'not ready', { retryAfter: 1, extra: { checks: { database: db, key_provider: kp } } });
    }
    return { status: 'ok', checks: { database: db, key_provider: kp } };
  }
}
