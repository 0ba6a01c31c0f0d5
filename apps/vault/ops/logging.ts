import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { storage, Store } from 'nestjs-pino/storage';
import type { Level, Logger } from 'pino';
import { pinoHttp, Options as PinoHttpOptions } from 'pino-http';
import { errorSummary } from '../../../libs/observability';

/** An incoming `X-Request-Id` is kept when it looks like an id; otherwise the vault makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ROUTE = Symbol('vault.route');

type RawRequest = IncomingMessage & { [ROUTE]?: string };

/** Fastify's `genReqId`: the request id every log line of the request carries. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** What a request line says: method, route template (never the URL: paths and queries can hold secrets), status, time. */
function requestLine(req: RawRequest, res: ServerResponse, responseTime: number) {
  return { method: req.method, route: req[ROUTE] ?? '(no route)', status: res.statusCode, responseTime };
}

/** The same line, `reqId` first, for the base logger. */
function requestLineWithId(reqId: string, req: RawRequest, res: ServerResponse, responseTime: number) {
  return { reqId, method: req.method, route: req[ROUTE] ?? '(no route)', status: res.statusCode, responseTime };
}

const QUIET_PATHS = new Set(['/healthz', '/metrics']);

/**
 * One JSON line per request (`reqId`, method, route template, status, time; none for the quiet
 * paths), the request id on every line logged while handling it (a request-scoped logger in
 * nestjs-pino's async-local storage, which libs/observability's `nestLogger` reads) and in the `x-request-id`
 * response header (`tagRequests`). Bodies, headers, URLs and error messages are never logged.
 *
 * An `onRequest` hook of the whole Fastify instance, doing what nestjs-pino's middleware did
 * (pino-http, then the storage) with pino-http's own logger and line, for less: the
 * request-scoped child logger is made only when something logs during the request, and the
 * line is written by one child logger instead of two made up front; no middleware runs.
 */
export function requestLogging(logger: Logger): onRequestHookHandler {
  const options = pinoHttpOptions(logger);
  const level = options.customLogLevel!;
  // pino-http's own logger: its serializers wrapped the way it wraps them.
  const base = pinoHttp(options).logger;
  return function logRequest(this: FastifyInstance, req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    const raw = req.raw as RawRequest;
    const res = reply.raw;
    const started = Date.now();
    const store = new RequestStore(base, req.id);
    const query = req.url.indexOf('?');
    if (!QUIET_PATHS.has(query < 0 ? req.url : req.url.slice(0, query))) {
      // As pino-http: the line once the response is finished, or the request aborted.
      const finished = (): void => {
        res.removeListener('close', finished);
        res.removeListener('finish', finished);
        const responseTime = Date.now() - started;
        const lvl = level(raw, res, undefined);
        if (lvl === 'silent' || !base.isLevelEnabled(lvl)) return;
        const err = (res as ServerResponse & { err?: Error }).err;
        // pino-http's customErrorObject / customSuccessObject (requestLine), and its messages.
        const msg =
          err || res.statusCode >= 500
            ? 'request errored'
            : !raw.readableAborted && res.writableEnded
              ? 'request completed'
              : 'request aborted';
        store.line(lvl, raw, res, responseTime, msg);
      };
      res.on('close', finished);
      res.on('finish', finished);
    }
    storage.run(store as unknown as Store, done);
  };
}

/**
 * nestjs-pino's `Store` whose request logger (a pino child carrying `reqId`) is made the first
 * time something reads it, usually never before the request line. A class rather than
 * `Object.create` with property descriptors: this runs for every request.
 */
class RequestStore {
  responseLogger: Logger | undefined = undefined;
  private child: Logger | undefined;

  constructor(
    private readonly base: Logger,
    private readonly reqId: string,
  ) {}

  get logger(): Logger {
    return (this.child ??= this.base.child({ reqId: this.reqId }));
  }

  /**
   * The request line, as the request logger writes it. When nothing made that logger, the base
   * logger writes it with `reqId` as the line's first field, which is where the child's binding
   * goes (after the base bindings, before the fields): the same JSON without a child per request.
   */
  line(level: Level, req: RawRequest, res: ServerResponse, responseTime: number, msg: string): void {
    if (this.child) this.child[level](requestLine(req, res, responseTime), msg);
    else this.base[level](requestLineWithId(this.reqId, req, res, responseTime), msg);
  }
}
// What nestjs-pino's storage holds: `store instanceof Store` stays true.
Object.setPrototypeOf(RequestStore.prototype, Store.prototype);

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

/** Answers with the request id, and lets the request line name the route Fastify matched (the raw request does not know it). */
export function tagRequests(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (req, reply, done) => {
    (req.raw as RawRequest)[ROUTE] = req.routeOptions.url;
    reply.header('x-request-id', req.id);
    done();
  });
}
