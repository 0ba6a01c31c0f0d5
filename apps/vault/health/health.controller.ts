import { Controller, Get, Inject } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { KEY_PROVIDER, KeyProvider } from '../../../libs/crypto';
import { DomainError } from '../../../libs/kernel';

@Controller()
export class HealthController {
  constructor(
    private readonly ds: DataSource,
    @Inject(KEY_PROVIDER) private readonly keys: KeyProvider,
  ) {}

  /** The process is up. */
  @Get('healthz')
  healthz() {
    return { status: 'ok' };
  }

  /** Ready to serve: the database answers and the key provider can unwrap. */
  @Get('readyz')
  async readyz() {
    const checks = await Promise.allSettled([this.ds.query('SELECT 1'), this.keys.health()]);
    const [db, kp] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : 'unavailable'));
    if (db !== 'ok' || kp !== 'ok') {
      throw new DomainError('unavailable', 'not ready', { retryAfter: 1, extra: { checks: { database: db, key_provider: kp } } });
    }
    return { status: 'ok', checks: { database: db, key_provider: kp } };
  }
}
