import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DEFAULT_IPV6_SUBNET_PREFIX, normalizeIp, ThrottlerStorage } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { VerifiedToken } from '../../../libs/auth';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { DomainError } from '../../../libs/kernel';
import { VaultMetrics } from '../../../libs/observability';

type Limiter = 'ip' | 'caller';

/**
 * The admin API's limits (SECURITY 29) on the dashboard: `RATE_LIMIT_ADMIN_PER_IP` requests per
 * client address before anything else (so pasting guessed tokens into the sign-in form is limited
 * too), and `RATE_LIMIT_ADMIN_PER_CALLER` per admin once the token is verified, per
 * `RATE_LIMIT_WINDOW_SECONDS`. Counted in the app's limiter store (the throttler's storage, which
 * the admin API's guards use) under keys of the dashboard's own, so its budget is separate from the
 * JSON API's. Over the limit: 429 `rate_limited` with `Retry-After` (a page, from DashboardPageFilter),
 * counted in `vault_rate_limited_total{route_group="dashboard"}`.
 */
@Injectable()
export class DashboardRateLimits {
  private readonly windowMs: number;
  private readonly limits: Record<Limiter, number>;
  private metrics?: VaultMetrics | null;

  constructor(
    @Inject(ThrottlerStorage) private readonly storage: ThrottlerStorage,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'rateLimit'>,
    private readonly moduleRef: ModuleRef,
  ) {
    this.windowMs = config.rateLimit.windowMs;
    this.limits = { ip: config.rateLimit.admin.perIp, caller: config.rateLimit.admin.perCaller };
  }

  /** By the client address Fastify resolved (trustProxy), IPv6 by /64 as the API's limiter does. */
  checkIp(req: FastifyRequest): Promise<void> {
    return this.check('ip', normalizeIp(req.ip, DEFAULT_IPV6_SUBNET_PREFIX));
  }

  /** By the verified admin within its tenant. */
  checkCaller(token: VerifiedToken): Promise<void> {
    return this.check('caller', `subject\u0000${token.tenant}\u0000${token.subject}`);
  }

  private async check(limiter: Limiter, tracker: string): Promise<void> {
    // Block duration = the window, as the throttler defaults it.
    const hit = await this.storage.increment(`${limiter}\u0000dashboard\u0000${tracker}`, this.windowMs, this.limits[limiter], this.windowMs, limiter);
    if (!hit.isBlocked) return;
    this.appMetrics()?.recordRateLimited('dashboard', limiter);
    const retryAfter = Math.max(1, Math.ceil(hit.timeToBlockExpire));
    throw new DomainError('rate_limited', `Too many requests; retry in ${retryAfter} s.`, { retryAfter });
  }

  /** The app's metrics (provided by its ops module, which does not export them), when there are any. */
  private appMetrics(): VaultMetrics | undefined {
    if (this.metrics === undefined) {
      try {
        this.metrics = this.moduleRef.get(VaultMetrics, { strict: false });
      } catch {
        this.metrics = null;
      }
    }
    return this.metrics ?? undefined;
  }
}

/** The per-IP limit, first on every dashboard route. */
@Injectable()
export class DashboardIpRateLimitGuard implements CanActivate {
  constructor(private readonly limits: DashboardRateLimits) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    await this.limits.checkIp(context.switchToHttp().getRequest<FastifyRequest>());
    return true;
  }
}
