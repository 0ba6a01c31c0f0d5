import { Controller, Get, HttpCode, Inject, Injectable, OnApplicationShutdown, OnModuleInit, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { AuditLog } from '../../../libs/audit';
import { principalOf } from '../../../libs/auth';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { KEY_PROVIDER, KeyProvider, Keyring } from '../../../libs/crypto';
import { OAuthCredentialStore } from '../../../libs/connections';
import { ConnectionRefresher } from '../../../libs/refresh';
import { onAuditFlush, onKeyProviderCall, onRefresh, ReleaseOutcome, VaultMetrics } from '../../../libs/observability';
import { feedWebhookMetrics, WebhookDispatcher } from '../../../libs/webhooks';
import { problemCodeOf } from '../http/problem.filter';
import { routeOf } from './logging';
import { RELEASE_ROUTE } from './route-groups';

interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/** The app's metrics, reading the tenant-key cache, the audit log and the pool at scrape time. */
export const metricsProvider = {
  provide: VaultMetrics,
  inject: [Keyring, AuditLog, DataSource, VAULT_CONFIG, OAuthCredentialStore],
  useFactory: (keyring: Keyring, audit: AuditLog, ds: DataSource, config: VaultConfig, credentials: OAuthCredentialStore) =>
    new VaultMetrics({
      keyCache: () => ({ hits: keyring.cache.hits, misses: keyring.cache.misses }),
      audit: () => audit.stats(),
      pool: () => {
        // TypeORM's postgres driver keeps its pg.Pool as `master`.
        const pool = ds.isInitialized ? (ds.driver as unknown as { master?: PgPool }).master : undefined;
        return pool
          ? { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: config.database.poolSize }
          : undefined;
      },
      refreshLag: () => credentials.dueLagSeconds(),
    }),
};

/**
 * Feeds the metrics: Key Vault calls of this app's key provider, flushes of its audit log, its webhook deliveries
 * (libs report them on diagnostics channels), and every answered release (a Fastify hook, so
 * refusals by the guards, the rate limiter and the router's validation are counted too).
 */
@Injectable()
export class MetricsFeed implements OnModuleInit, OnApplicationShutdown {
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly metrics: VaultMetrics,
    private readonly adapter: HttpAdapterHost,
    private readonly audit: AuditLog,
    private readonly refresher: ConnectionRefresher,
    @Inject(KEY_PROVIDER) private readonly keyProvider: KeyProvider,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'webhooks'>,
    private readonly webhooks: WebhookDispatcher,
  ) {}

  onModuleInit(): void {
    // Webhook deliveries and the outbox lag when this process delivers them (WEBHOOKS_IN_PROCESS).
    if (this.config.webhooks.inProcess) this.unsubscribe.push(feedWebhookMetrics(this.metrics, this.webhooks));
    this.unsubscribe.push(onKeyProviderCall(this.keyProvider, (e) => this.metrics.recordKeyProviderCall(e)));
    this.unsubscribe.push(onAuditFlush(this.audit, (e) => this.metrics.recordAuditFlush(e)));
    this.unsubscribe.push(onRefresh(this.refresher, (e) => this.metrics.recordRefresh(e)));
    const fastify = this.adapter.httpAdapter?.getInstance<FastifyInstance>();
    fastify?.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      if (req.method === 'POST' && routeOf(req) === RELEASE_ROUTE) this.release(req, reply);
      done();
    });
  }

  onApplicationShutdown(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private release(req: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const outcome: ReleaseOutcome = status < 400 ? 'released' : status < 500 ? 'denied' : 'error';
    this.metrics.recordRelease({
      outcome,
      integration: verifiedIntegration(req),
      reason: status >= 400 ? (problemCodeOf(req) ?? `http_${status}`) : undefined,
      seconds: reply.elapsedTime / 1000,
    });
  }
}

const SCOPE_PREFIX = 'connections:';

/**
 * The integration of the path, only when the verified token names it in a scope: a label value
 * an unauthenticated caller cannot invent (cardinality), and never a user or an agent.
 */
function verifiedIntegration(req: FastifyRequest): string | undefined {
  const integration = (req.params as Record<string, unknown> | undefined)?.integration;
  const token = principalOf(req);
  if (typeof integration !== 'string' || token === undefined) return undefined;
  // The test of `scopes.includes('connections:' + integration)`, without building that string per release.
  const length = SCOPE_PREFIX.length + integration.length;
  for (const s of token.scopes) if (s.length === length && s.startsWith(SCOPE_PREFIX) && s.endsWith(integration)) return integration;
  return undefined;
}

/** `GET /metrics`: Prometheus text exposition. Labels carry integration names and codes only. */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: VaultMetrics) {}

  @Get()
  @HttpCode(200)
  async scrape(@Res({ passthrough: true }) res: FastifyReply): Promise<string> {
    res.header('Content-Type', this.metrics.contentType).header('Cache-Control', 'no-store');
    return this.metrics.text();
  }
}
