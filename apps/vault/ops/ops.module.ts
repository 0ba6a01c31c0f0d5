import { DynamicModule, Injectable, Module, OnModuleInit } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type { FastifyInstance } from 'fastify';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import { AuditModule } from '../../../libs/audit';
import { CredentialsModule } from '../../../libs/credentials';
import { VaultConfig } from '../../../libs/config';
import { requestLogging, tagRequests } from './logging';
import { MetricsController, MetricsFeed, metricsProvider } from './metrics';
import { FixedWindowCounters } from './fixed-window';
import { CallerRateLimitGuard, CallerRateLimitInterceptor, IpRateLimitGuard, RATE_LIMIT_COUNTERS, ReleaseRateLimits, throttlerOptions } from './rate-limit';

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
      imports: [LoggerModule.forRoot(requestLogging(logger)), ThrottlerModule.forRoot(throttlerOptions(config, counters)), AuditModule, CredentialsModule],
      controllers: [MetricsController],
      providers: [
        metricsProvider,
        MetricsFeed,
        RequestTags,
        CallerRateLimitGuard,
        { provide: RATE_LIMIT_COUNTERS, useValue: counters },
        ReleaseRateLimits,
        { provide: APP_GUARD, useClass: IpRateLimitGuard },
        { provide: APP_INTERCEPTOR, useClass: CallerRateLimitInterceptor },
      ],
      exports: [ReleaseRateLimits],
    };
  }
}
