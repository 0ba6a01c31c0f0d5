import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { RouteRateLimits } from './rate-limit';

/**
 * The pages for people (connect links and consent, `/connections`, `/account`, `/auth/callback`,
 * `/oauth/callback`) are open to anyone: they get the admin API's per-address limit, counted under
 * their own keys (`route_group="pages"`), before any work is done (a sign-in start discovers the
 * provider, a callback calls it). Over the limit: a 429 page with `Retry-After` (the controllers'
 * `ConsentPageFilter`). No per-caller limit: no token names the caller; the sessions are bounded elsewhere.
 */
@Injectable()
export class PageIpRateLimitGuard implements CanActivate {
  constructor(private readonly limits: RouteRateLimits) {}

  canActivate(context: ExecutionContext): boolean {
    this.limits.checkIp('pages', context.switchToHttp().getRequest<FastifyRequest>().ip);
    return true;
  }
}
