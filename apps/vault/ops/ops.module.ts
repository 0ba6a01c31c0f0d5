import { DynamicModule, Inject, Injectable, Module, OnModuleInit } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AuditModule } from '../../../libs/audit';
import { VaultConfig } from '../../../libs/config';
import { RefreshModule } from '../../../libs/refresh';
import { requestLogging } from './logging';
import { MetricsController, MetricsFeed, metricsProvider } from './metrics';
import { FixedWindowCounters } from './fixed-window';
import {
  CallerRateLimitGuard,
  CallerRateLimitInterceptor,
  IpRateLimitGuard,
  RATE_LIMIT_COUNTERS,
  RouteRateLimits,
  throttlerOptions,
} from './rate-limit';

/** The JSON logger request lines go to (bootstrap's pino). */
const REQUEST_LOGGER = Symbol('REQUEST_LOGGER');

/** Request ids and request logs on every route (Nest's, and the plain Fastify ones: the release route, /docs). */
@Injectable()
class RequestTags implements OnModuleInit {
  constructor(
    private readonly adapter: HttpAdapterHost,
    @Inject(REQUEST_LOGGER) private readonly logger: Logger,
  ) {}
  onModuleInit(): void {
    const fastify = this.adapter.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return;
    fastify.addHook('onRequest', requestLogging(this.logger));
  }
}

/**
 * What an operator needs from the API process: structured request logs (pino, `requestLogging`),
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
      imports: [ThrottlerModule.forRoot(throttlerOptions(config, counters)), AuditModule, RefreshModule],
      controllers: [MetricsController],
      providers: [
        metricsProvider,
        MetricsFeed,
        RequestTags,
        CallerRateLimitGuard,
        { provide: RATE_LIMIT_COUNTERS, useValue: counters },
        RouteRateLimits,
        { provide: REQUEST_LOGGER, useValue: logger },
        { provide: APP_GUARD, useClass: IpRateLimitGuard },
        { provide: APP_INTERCEPTOR, useClass: CallerRateLimitInterceptor },
      ],
      // Global, like ThrottlerModule: the release route and the dashboard count in the app's one set of counters.
      global: true,
      exports: [RouteRateLimits],
    };
  }
}
