import 'reflect-metadata';
import { Logger, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DestinationStream } from 'pino';
import { loadDevIssuer, TrustedIssuerRegistry } from '../../libs/auth';
import { VaultConfig } from '../../libs/config';
import { createDataSource, EmbeddedDatabase, runMigrations, startEmbeddedPostgres } from '../../libs/db';
import { createVaultLogger, nestLogger } from '../../libs/observability';
import { AppModule } from './app.module';
import { ProblemFilter } from './http/problem.filter';
import { OAUTH_FORM_ROUTES, OAuthErrorFilter } from './oauth/oauth-error.filter';
import { strictValidation } from './http/validation';
import { requestId } from './ops/logging';
import { serveApiDocs } from './ops/openapi';
import { drainHttp } from './ops/shutdown';
import { assertPortFree } from './ops/port-check';

/**
 * Requests the router itself refuses (over-long or badly percent-encoded path parameters)
 * become the same 400 problem as any invalid name, without quoting the path back.
 */
function routerRefusal(_err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  reply
    .code(400)
    .header('content-type', 'application/problem+json')
    .send({
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      code: 'validation_failed',
      detail: 'A path parameter is not a valid name.',
      errors: [{ field: '(path)', message: 'must be a valid name' }],
    });
}

export interface RunningVault {
  app: NestFastifyApplication;
  url: string;
  embedded?: EmbeddedDatabase;
  close(): Promise<void>;
}

export interface StartVaultOptions {
  /**
   * Nest's own lines (`new Logger(...)`). Unset: into the JSON logs (pino). `false` silences
   * them; a `LoggerService` receives every line (tests capture them).
   */
  logger?: false | LoggerService;
  /**
   * Where the JSON logs (request lines, and Nest's lines when `logger` is unset) go. Unset:
   * stdout when `logger` is unset, nowhere otherwise.
   */
  logStream?: DestinationStream;
}

/**
 * Starts the API: Postgres (embedded when no DATABASE_URL), migrations under an
 * advisory lock, the Nest app on Fastify, API docs at /docs. Used by main.ts and by the
 * integration tests.
 */
export async function startVault(config: VaultConfig, opts: StartVaultOptions = {}): Promise<RunningVault> {
  const log = new Logger('vault');
  // A busy port fails here, before the database starts and before Nest says it started.
  await assertPortFree(config.host, config.port);
  const jsonLogs = opts.logger === undefined || opts.logStream !== undefined;
  const pino = createVaultLogger({
    level: jsonLogs ? config.logLevel : 'silent',
    stream: opts.logStream,
    base: { service: 'credential-vault-api' },
  });
  let embedded: EmbeddedDatabase | undefined;
  let dbUrl = config.database.url;
  if (!dbUrl) {
    embedded = await startEmbeddedPostgres(config.dataDir, (m) => log.warn(m));
    dbUrl = embedded.url;
  }
  const ds = createDataSource({
    url: dbUrl,
    schema: config.database.schema,
    poolSize: config.database.poolSize,
    applicationName: 'credential-vault-api',
  });
  let app: NestFastifyApplication | undefined;
  try {
    await ds.initialize();
    await runMigrations(ds, config.database.schema);
    app = await NestFactory.create<NestFastifyApplication>(
      AppModule.forRoot(config, ds, pino),
      // Router options under `routerOptions`: at the top level Fastify 5 warns (FSTDEP022).
      new FastifyAdapter({
        bodyLimit: 256 * 1024,
        trustProxy: fastifyTrustProxy(config.trustProxy),
        routerOptions: { maxParamLength: 128 },
        frameworkErrors: routerRefusal,
        genReqId: requestId,
      }),
      opts.logger === undefined ? { bufferLogs: true } : { logger: opts.logger, bufferLogs: false },
    );
    if (opts.logger === undefined) {
      app.useLogger(nestLogger(pino));
      app.flushLogs();
    }
    app.useGlobalFilters(new ProblemFilter(Object.fromEntries(OAUTH_FORM_ROUTES.map((r) => [r, new OAuthErrorFilter()]))));
    app.useGlobalPipes(strictValidation);
    if (config.devIssuer) {
      const dev = await loadDevIssuer(config.dataDir, config.publicUrl);
      app.get(TrustedIssuerRegistry).register({
        issuer: dev.issuer,
        algorithms: ['ES256'],
        tenant_claim: 'tid',
        default_tenant: 'default',
        getKey: async (kid?: string) => {
          if (kid !== dev.kid) throw new Error('unknown kid');
          return dev.publicKey;
        },
      });
    }
    serveApiDocs(app);
    await app.listen({ port: config.port, host: config.host });
    const address = app.getHttpServer().address() as { port: number };
    const started = app;
    return {
      app,
      url: `http://127.0.0.1:${address.port}`,
      embedded,
      /**
       * Graceful: stop accepting and let in-flight requests finish (each release awaits its
       * audit record), then Nest's hooks (background jobs stop, the audit log drains its
       * batches), then the pool closes.
       */
      async close() {
        await drainHttp(started.getHttpAdapter().getInstance() as FastifyInstance);
        await started.close();
        if (ds.isInitialized) await ds.destroy();
        if (embedded) await embedded.stop();
      },
    };
  } catch (err) {
    // `listen` runs the lifecycle hooks before it binds: a bind that fails (an address not ours, a port
    // taken since assertPortFree) leaves the revocation feed's LISTEN client and the background tasks
    // running, and the pool's end would wait for that client forever. Nest's shutdown stops them first.
    if (app) await app.close().catch(() => undefined);
    if (ds.isInitialized) await ds.destroy();
    if (embedded) await embedded.stop();
    throw err;
  }
}

/**
 * VAULT_TRUST_PROXY as a Fastify option. Since Fastify 5.12 a bare hop count trusts no hop at all
 * (a direct client could spoof X-Forwarded-For past the count); we keep the documented meaning,
 * the nearest `n` hops are our proxies, as proxy-addr defines it.
 */
function fastifyTrustProxy(t: boolean | number | string[]): boolean | string[] | ((addr: string, hop: number) => boolean) {
  return typeof t === 'number' ? (_addr, hop) => hop < t : t;
}
