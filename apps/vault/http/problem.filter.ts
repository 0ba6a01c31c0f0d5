import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { isDatabaseUnavailable } from '../../../libs/db';
import { DomainError, ErrorCodes } from '../../../libs/kernel';

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
};

const HTTP_CODES: Record<number, string> = { 400: 'invalid_request', 404: 'not_found', 405: 'method_not_allowed', 413: 'payload_too_large', 415: 'unsupported_media_type', 429: 'rate_limited' };

const PROBLEM_CODES = new WeakMap<object, string>();

/** The `code` of the problem this request was answered with, if it was (for metrics). */
export function problemCodeOf(req: object): string | undefined {
  return PROBLEM_CODES.get(req);
}

const log = new Logger('errors');

/**
 * The one place errors become responses: RFC 9457 problem+json with a stable `code`.
 * Unknown errors become an opaque 500 with an error id; details stay server-side
 * and even there only the error's class and code are logged (messages can carry data).
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  /**
   * `routes`: filters of routes that answer errors another way (the OAuth token endpoint), by
   * Fastify route template. A controller's own filter handles what its handler throws, but an
   * error before the handler (an unreadable or oversized body) reaches only this global filter.
   */
  constructor(private readonly routes: Record<string, ExceptionFilter> = {}) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<FastifyRequest>();
    const own = this.routes[req.routeOptions?.url ?? ''];
    if (own) return own.catch(err, host);
    sendProblem(err, req, ctx.getResponse<FastifyReply>());
  }
}

/** What `ProblemFilter` answers, for a route served outside Nest's pipeline (the release route). */
export function sendProblem(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const problem = toProblem(err);
  PROBLEM_CODES.set(req, String(problem.body.code));
  if (problem.retryAfter !== undefined) reply.header('Retry-After', String(problem.retryAfter));
  if (problem.body.status === 401) reply.header('WWW-Authenticate', 'Bearer error="invalid_token"');
  reply
    .status(problem.body.status as number)
    .header('Content-Type', 'application/problem+json')
    .header('Cache-Control', 'no-store')
    .send({ ...problem.body, instance: req.url.split('?')[0] });
}

function toProblem(err: unknown): { body: Record<string, unknown>; retryAfter?: number } {
  if (err instanceof DomainError) {
    if (err.status >= 500 && err.code === 'internal_error') return internal(err);
    return {
      body: { type: `about:blank`, title: TITLES[err.status] ?? 'Error', status: err.status, code: err.code, detail: err.detail, ...err.details.extra },
      retryAfter: err.details.retryAfter,
    };
  }
  if (isDatabaseUnavailable(err)) {
    return { body: { type: 'about:blank', title: TITLES[503], status: 503, code: 'unavailable', detail: 'The database is unavailable; nothing was released or stored.' }, retryAfter: 1 };
  }
  const status = err instanceof HttpException ? err.getStatus() : (err as { statusCode?: number })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Framework errors (malformed JSON, unknown route, body too large): keep only a safe detail.
    const code = HTTP_CODES[status] ?? 'invalid_request';
    const detail = status === 400 ? 'The request body is not valid JSON or is malformed.' : (TITLES[status] ?? 'Client error');
    return { body: { type: 'about:blank', title: TITLES[status] ?? 'Error', status, code, detail } };
  }
  return internal(err);
}

function internal(err: unknown): { body: Record<string, unknown> } {
  const errorId = randomUUID();
  const e = err as { name?: unknown; code?: unknown } | null | undefined;
  log.error(`error_id=${errorId} type=${token(e?.name) ?? typeof err} code=${token(e?.code) ?? '-'}`);
  return { body: { type: 'about:blank', title: TITLES[500], status: ErrorCodes.internal_error, code: 'internal_error', detail: 'An internal error occurred.', error_id: errorId } };
}

/** A name or code as logged: a short identifier-like string, never free text (messages can carry data). */
function token(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(value) ? value : undefined;
}
