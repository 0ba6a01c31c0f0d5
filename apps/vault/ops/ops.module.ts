import { DynamicModule, Injectable, Module, OnModuleInit, RequestMethod } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type { FastifyInstance } from 'fastify';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import { AuditModule } from '../../../libs/audit';
import { CredentialsModule } from '../../../libs/credentials';
import { VaultConfig } from '../../../libs/config';
import { requestLogging, routeRequestLogging, tagRequests } from './logging';
import { MetricsController, MetricsFeed, metricsProvider } from './metrics';
import { FixedWindowCounters } from './fixed-window';
import { RELEASE_ROUTE } from './route-groups';
import { CallerRateLimitGuard, CallerRateLimitInterceptor, IpRateLimitGuard, RATE_LIMIT_COUNTERS, ReleaseRateLimits, throttlerOptions } from './rate-limit';

/** The release route's `onRequest` hook: its request line and request-scoped logger (`routeRequestLogging`). */
export const RELEASE_REQUEST_LOG = Symbol('RELEASE_REQUEST_LOG');

@Injectable()
class RequestTags implements OnModuleInit {
  constructor(private readonly adapter: HttpAdapterHost) {}
  onModuleInit(): void {
    const fastify = this.adapter.httpAdapter?.getInstance<FastifyInstance>();
    if (fastify) tagRequests(fastify);
  }
}

/**
 * What an operator needs from the API process: structured request logs (nestjs-pino),
 * `GET /metrics` (prom-client), and the rate limits of the release and admin APIs
 * (@nestjs/throttler). API docs and graceful shutdown are wired in bootstrap.
 */
@Module({})
export class OpsModule {
  static forRoot(config: VaultConfig, logger: Logger): DynamicModule {
    // One set of counters per app: the Nest guards and the release route count in it.
    const counters = new FixedWindowCounters();
    return {
      module: OpsModule,
      // The release route logs itself (RELEASE_REQUEST_LOG): it is not behind Nest's middleware.
      imports: [LoggerModule.forRoot(requestLogging(logger, [{ path: RELEASE_ROUTE.slice(1), method: RequestMethod.POST }])), ThrottlerModule.forRoot(throttlerOptions(config, counters)), AuditModule, CredentialsModule],
      controllers: [MetricsController],
      providers: [
        metricsProvider,
        MetricsFeed,
        RequestTags,
        CallerRateLimitGuard,
        { provide: RATE_LIMIT_COUNTERS, useValue: counters },
        ReleaseRateLimits,
        { provide: RELEASE_REQUEST_LOG, useValue: routeRequestLogging(logger) },
        { provide: APP_GUARD, useClass: IpRateLimitGuard },
        { provide: APP_INTERCEPTOR, useClass: CallerRateLimitInterceptor },
      ],
      exports: [ReleaseRateLimits, RELEASE_REQUEST_LOG],
    };
  }
}
