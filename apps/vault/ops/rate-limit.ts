import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions } from '@nestjs/throttler';
import { Observable } from 'rxjs';
import { principalOf } from '../../../libs/auth';
import { VaultConfig } from '../../../libs/config';
import { DomainError } from '../../../libs/kernel';
import { VaultMetrics } from '../../../libs/observability';
import { routeGroupOf } from './route-groups';

type Limiter = 'ip' | 'caller';

function groupOf(context: ExecutionContext) {
  return routeGroupOf(context.switchToHttp().getRequest());
}

/**
 * The limits of SECURITY.md 29 on the release and admin APIs, per process, in one window:
 * `ip` counts every request by client address (before authentication, so guessing tokens is
 * limited too); `caller` counts by the verified token: the agent (`act.sub`) on the release
 * API, the admin (`sub`) on the admin API, each within its tenant.
 */
export function throttlerOptions(config: Pick<VaultConfig, 'rateLimit'>): ThrottlerModuleOptions {
  const { windowMs, release, admin } = config.rateLimit;
  return {
    throttlers: [
      { name: 'ip', ttl: windowMs, limit: (ctx) => (groupOf(ctx) === 'release' ? release.perIp : admin.perIp) },
      {
        name: 'caller',
        ttl: windowMs,
        limit: (ctx) => (groupOf(ctx) === 'release' ? release.perAgent : admin.perCaller),
        getTracker: (req) => {
          const p = principalOf(req);
          if (!p) return '';
          return p.agent !== undefined ? `agent\u0000${p.tenant}\u0000${p.agent}` : `subject\u0000${p.tenant}\u0000${p.subject}`;
        },
      },
    ],
    // `Retry-After` comes with the 429 problem (ProblemFilter); no per-limiter X-RateLimit headers.
    setHeaders: false,
    generateKey: (ctx, tracker, name) => `${name}\u0000${groupOf(ctx)}\u0000${tracker}`,
  };
}

/** One limiter of `throttlerOptions`, answering 429 `rate_limited` with `Retry-After`. */
abstract class VaultRateLimitGuard extends ThrottlerGuard {
  protected abstract readonly limiter: Limiter;
  @Inject(VaultMetrics) private readonly metrics!: VaultMetrics;

  override async onModuleInit(): Promise<void> {
    await super.onModuleInit();
    this.throttlers = this.throttlers.filter((t) => t.name === this.limiter);
  }

  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    return groupOf(context) === undefined;
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const retryAfter = Math.max(1, detail.timeToBlockExpire);
    this.metrics.recordRateLimited(groupOf(context) ?? 'none', this.limiter);
    throw new DomainError('rate_limited', `Too many requests; retry in ${retryAfter} s.`, { retryAfter });
  }
}

/** By client IP, as the first guard of every route (an APP_GUARD). */
@Injectable()
export class IpRateLimitGuard extends VaultRateLimitGuard {
  protected readonly limiter = 'ip';
}

/** By the verified caller: runs after the routes' auth guards (see `CallerRateLimitInterceptor`). */
@Injectable()
export class CallerRateLimitGuard extends VaultRateLimitGuard {
  protected readonly limiter = 'caller';

  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    return (await super.shouldSkip(context)) || !principalOf(context.switchToHttp().getRequest());
  }
}

/**
 * Global guards run before the routes' own (the auth guards that verify the token), and
 * interceptors after all guards: so the per-caller limit is applied here, once the caller is known.
 */
@Injectable()
export class CallerRateLimitInterceptor implements NestInterceptor {
  constructor(private readonly guard: CallerRateLimitGuard) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    await this.guard.canActivate(context);
    return next.handle();
  }
}
