import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { storage, Store } from 'nestjs-pino/storage';
import type { Logger } from 'pino';
import { pinoHttp, Options as PinoHttpOptions } from 'pino-http';
import { errorSummary } from '../../../libs/observability';
import { RequestLineWriter } from './request-line';

/** An incoming `X-Request-Id` is kept when it looks like an id; otherwise the vault makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ROUTE = Symbol('vault.route');
const STORE = Symbol('vault.requestStore');

type RawRequest = IncomingMessage & { [ROUTE]?: string; [STORE]?: RequestStore };

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
 * One JSON line per request (`reqId`, method, route template, status, time; none for the quiet
 * paths), the request id on every line logged while handling it (a request-scoped logger in
 * nestjs-pino's async-local storage, which libs/observability's `nestLogger` reads) and in the `x-request-id`
 * response header. Bodies, headers, URLs and error messages are never logged.
 *
 * An `onRequest` hook of the whole Fastify instance, doing what nestjs-pino's middleware did
 * (pino-http, then the storage) with pino-http's own logger and line, for less: the
 * request-scoped child logger is made only when something logs during the request, the line is
 * written by `RequestLineWriter` (pino's bytes), and one shared `close` listener per response
 * writes it (pino-http's two per request, `finish` and `close`, and their closure, gave the
 * same line: a response's `close` always follows its `finish`, on the next tick).
 */
export function requestLogging(logger: Logger): onRequestHookHandler {
  const level = pinoHttpOptions(logger).customLogLevel!;
  const base = requestLineLogger(logger);
  const lines = new RequestLineWriter(base);

  // As pino-http: the line once the response is finished, or the request aborted.
  function writeRequestLine(this: ServerResponse): void {
    const raw = this.req as RawRequest;
    const store = raw[STORE];
    if (store === undefined) return;
    const responseTime = Date.now() - store.started;
    const lvl = level(raw, this, undefined);
    if (lvl === 'silent' || !base.isLevelEnabled(lvl)) return;
    const err = (this as ServerResponse & { err?: Error }).err;
    // pino-http's customErrorObject / customSuccessObject (requestLine), and its messages.
    const msg =
      err || this.statusCode >= 500
        ? 'request errored'
        : !raw.readableAborted && this.writableEnded
          ? 'request completed'
          : 'request aborted';
    lines.write(lvl, store.reqId, raw.method, raw[ROUTE] ?? '(no route)', this.statusCode, responseTime, msg);
  }

  return function logRequest(this: FastifyInstance, req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    // The route Fastify matched, for the line and the metrics (the raw request does not know it), and the id in the answer.
    (req.raw as RawRequest)[ROUTE] = req.routeOptions.url;
    reply.header('x-request-id', req.id);
    const store = new RequestStore(base, req.id, Date.now());
    const url = req.url;
    const query = url.indexOf('?');
    if (!QUIET_PATHS.has(query < 0 ? url : url.slice(0, query))) {
      (req.raw as RawRequest)[STORE] = store;
      reply.raw.on('close', writeRequestLine);
    }
    storage.run(store as unknown as Store, done);
  };
}

/**
 * nestjs-pino's `Store` whose request logger (a pino child carrying `reqId`) is made the first
 * time something reads it, usually never. A class rather than `Object.create` with property
 * descriptors: this runs for every request.
 */
class RequestStore {
  responseLogger: Logger | undefined = undefined;
  private child: Logger | undefined;

  constructor(
    private readonly base: Logger,
    readonly reqId: string,
    /** When the request came in (ms since the epoch), for the line's `responseTime`. */
    readonly started: number,
  ) {}

  get logger(): Logger {
    return (this.child ??= this.base.child({ reqId: this.reqId }));
  }
}
// What nestjs-pino's storage holds: `store instanceof Store` stays true.
Object.setPrototypeOf(RequestStore.prototype, Store.prototype);

/** The logger request lines and request loggers come from: pino-http's own, its serializers wrapped the way it wraps them. */
export function requestLineLogger(logger: Logger): Logger {
  return pinoHttp(pinoHttpOptions(logger)).logger;
}

/** pino-http's options (a fresh object each time: pino-http takes them apart). */
function pinoHttpOptions(logger: Logger): PinoHttpOptions {
  return {
    logger,
    quietReqLogger: true,
    quietResLogger: true,
    wrapSerializers: false,
    serializers: {
      req: (req: IncomingMessage) => ({ method: req.method }),
      res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
      err: errorSummary,
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    customSuccessObject: (req, res, val: { responseTime: number }) => requestLine(req, res, val.responseTime),
    customErrorObject: (req, res, _err, val: { responseTime: number }) => requestLine(req, res, val.responseTime),
  };
}

/** The route template Fastify matched, as `requestLogging` noted it (`routeOptions` builds an object per read). */
export function routeOf(req: FastifyRequest): string | undefined {
  return (req.raw as RawRequest)[ROUTE];
}
