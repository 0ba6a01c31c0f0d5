import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { RouteRateLimits } from '../ops/rate-limit';

/**
 * The admin API's limits (SECURITY 29) on the dashboard, counted under its own keys: per client
 * address first on every dashboard route (so pasting guessed tokens into the sign-in form is
 * limited too), and per admin once the token is verified (DashboardSession). Over the limit: 429
 * `rate_limited` with `Retry-After` (a page, from DashboardPageFilter), counted in
 * `vault_rate_limited_total{route_group="dashboard"}`.
 */
@Injectable()
export class DashboardIpRateLimitGuard implements CanActivate {
  constructor(private readonly limits: RouteRateLimits) {}

  canActivate(context: ExecutionContext): boolean {
    this.limits.checkIp('dashboard', context.switchToHttp().getRequest<FastifyRequest>().ip);
    return true;
  }
}
