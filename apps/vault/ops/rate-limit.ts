import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { DEFAULT_IPV6_SUBNET_PREFIX, normalizeIp, ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions } from '@nestjs/throttler';
import { Observable } from 'rxjs';
import { principalOf, VerifiedToken } from '../../../libs/auth';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { DomainError } from '../../../libs/kernel';
import { VaultMetrics } from '../../../libs/observability';
import { FixedWindowCounters } from './fixed-window';
import { RouteGroup, routeGroupOf } from './route-groups';

type Limiter = 'ip' | 'caller';

function groupOf(context: ExecutionContext) {
  return routeGroupOf(context.switchToHttp().getRequest());
}

/** The counters every limiter of this app shares (one instance per app, built in OpsModule). */
export const RATE_LIMIT_COUNTERS = Symbol('RATE_LIMIT_COUNTERS');

/** The per-caller tracker: the agent (`act.sub`) for agent tokens, else the subject, each within its tenant. */
function callerTracker(p: VerifiedToken): string {
  return p.agent !== undefined ? `agent\u0000${p.tenant}\u0000${p.agent}` : `subject\u0000${p.tenant}\u0000${p.subject}`;
}

function limiterKey(limiter: Limiter, group: RouteGroup | DirectRouteGroup | undefined, tracker: string): string {
  return `${limiter}\u0000${group}\u0000${tracker}`;
}

/**
 * The limits of SECURITY.md 29 on the release and admin APIs, per process, in one window:
 * `ip` counts every request by client address (before authentication, so guessing tokens is
 * limited too); `caller` counts by the verified token: the agent (`act.sub`) on the release
 * API, the admin (`sub`) on the admin API, each within its tenant. Counted in fixed windows
 * (`FixedWindowCounters`). The release route is served outside Nest's pipeline and applies the
 * same two limits, with the same keys, through `RouteRateLimits`.
 */
export function throttlerOptions(config: Pick<VaultConfig, 'rateLimit'>, counters: FixedWindowCounters): ThrottlerModuleOptions {
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
          return p ? callerTracker(p) : '';
        },
      },
    ],
    // `Retry-After` comes with the 429 problem (ProblemFilter); no per-limiter X-RateLimit headers.
    setHeaders: false,
    generateKey: (ctx, tracker, name) => limiterKey(name as Limiter, groupOf(ctx), tracker),
    storage: counters,
  };
}

function rateLimited(retryAfterSeconds: number): DomainError {
  const retryAfter = Math.max(1, retryAfterSeconds);
  return new DomainError('rate_limited', `Too many requests; retry in ${retryAfter} s.`, { retryAfter });
}

/**
 * Routes limited outside Nest's global guards: the release route (a plain Fastify route), the
 * dashboard, and the pages for people (`pages`: consent, connections, account, sign-in callbacks).
 */
export type DirectRouteGroup = 'release' | 'dashboard' | 'pages';

/**
 * The same two limits as the guards below, for `DirectRouteGroup`s: `ip` before the token is
 * verified, `caller` after; same counters, key shape, 429 and metric. The release route has the
 * release API's limits (per agent); the dashboard and the pages for people the admin API's, each counted
 * under its own keys.
 */
@Injectable()
export class RouteRateLimits {
  private readonly windowMs: number;
  private readonly limits: Record<DirectRouteGroup, Record<Limiter, number>>;

  constructor(
    @Inject(VAULT_CONFIG) config: VaultConfig,
    @Inject(RATE_LIMIT_COUNTERS) private readonly counters: FixedWindowCounters,
    private readonly metrics: VaultMetrics,
  ) {
    const { windowMs, release, admin } = config.rateLimit;
    this.windowMs = windowMs;
    this.limits = {
      release: { ip: release.perIp, caller: release.perAgent },
      dashboard: { ip: admin.perIp, caller: admin.perCaller },
      pages: { ip: admin.perIp, caller: admin.perCaller },
    };
  }

  /** `ip`: by the client address Fastify resolved (trustProxy), IPv6 by /64 like the throttler's default tracker. */
  checkIp(group: DirectRouteGroup, ip: string): void {
    this.check(group, 'ip', normalizeIp(ip, DEFAULT_IPV6_SUBNET_PREFIX));
  }

  /** `caller`: by the verified token (the agent, else the subject) within its tenant. */
  checkCaller(group: DirectRouteGroup, token: VerifiedToken): void {
    this.check(group, 'caller', callerTracker(token));
  }

  private check(group: DirectRouteGroup, limiter: Limiter, tracker: string): void {
    // Block duration = the window, as the throttler defaults it.
    const hit = this.counters.hit(limiterKey(limiter, group, tracker), this.windowMs, this.limits[group][limiter], this.windowMs);
    if (!hit.isBlocked) return;
    this.metrics.recordRateLimited(group, limiter);
    throw rateLimited(hit.timeToBlockExpire);
  }
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
    this.metrics.recordRateLimited(groupOf(context) ?? 'none', this.limiter);
    throw rateLimited(detail.timeToBlockExpire);
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
