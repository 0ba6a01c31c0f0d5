import { LoggerService, RequestMethod } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Logger as NestPinoLogger, Params, PinoLogger } from 'nestjs-pino';
import { storage } from 'nestjs-pino/storage';
import type { Logger } from 'pino';
import { errorSummary } from '../../../libs/observability';

/** An incoming `X-Request-Id` is kept when it looks like an id; otherwise the vault makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ROUTE = Symbol('vault.route');

type RawRequest = IncomingMessage & { [ROUTE]?: string; originalUrl?: string };

/** Fastify's `genReqId`: the request id every log line of the request carries. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** What a request line says: method, route template (never the URL: paths and queries can hold secrets), status, time. */
function requestLine(req: RawRequest, res: ServerResponse, responseTime: number) {
  return { method: req.method, route: req[ROUTE] ?? '(no route)', status: res.statusCode, responseTime };
}

const QUIET_PATHS = new Set(['/healthz', '/metrics']);

/**
 * nestjs-pino: one JSON line per request (`reqId`, method, route template, status, time), the
 * request id on every line logged while handling it and in the `x-request-id` response
 * header. Bodies, headers, URLs and error messages are never logged.
 */
export function requestLogging(logger: Logger): Params {
  return {
    pinoHttp: {
      logger,
      quietReqLogger: true,
      quietResLogger: true,
      wrapSerializers: false,
      serializers: { req: (req: IncomingMessage) => ({ method: req.method }), res: (res: ServerResponse) => ({ statusCode: res.statusCode }), err: errorSummary },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      customSuccessObject: (req, res, val: { responseTime: number }) => requestLine(req, res, val.responseTime),
      customErrorObject: (req, res, _err, val: { responseTime: number }) => requestLine(req, res, val.responseTime),
      autoLogging: { ignore: (req: RawRequest) => QUIET_PATHS.has((req.originalUrl ?? req.url ?? '').split('?')[0]) },
    },
    forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
  };
}

/** Answers with the request id, and lets the request line name the route Fastify matched (the raw request does not know it). */
export function tagRequests(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (req, reply, done) => {
    (req.raw as RawRequest)[ROUTE] = req.routeOptions.url;
    reply.header('x-request-id', req.id);
    done();
  });
}

/**
 * Nest's own lines (`new Logger(...)`) into this app's pino logger, bound to the request's
 * logger (and so its `reqId`) while one is handled. Outside requests nestjs-pino would use the
 * first logger the process ever made, which is another app's when a process runs several (tests).
 */
class AppPinoLogger extends PinoLogger {
  constructor(private readonly root: Logger) {
    super({ pinoHttp: { logger: root } });
  }

  override get logger(): Logger {
    return storage.getStore()?.logger ?? this.root;
  }
}

export function nestLogger(root: Logger): LoggerService {
  return new NestPinoLogger(new AppPinoLogger(root), {});
}
