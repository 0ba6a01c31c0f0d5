import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { classify, ClassifiedError, REASON_PHRASES } from './error-classifier';

const PROBLEM_CODES = new WeakMap<object, string>();

/** The `code` of the problem this request was answered with, if it was (for metrics). */
export function problemCodeOf(req: object): string | undefined {
  return PROBLEM_CODES.get(req);
}

/**
 * The API's answer to errors: RFC 9457 problem+json with a stable `code`, rendered from the one
 * classification (`classify`). Unknown errors become an opaque 500 with an error id.
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

/**
 * What `ProblemFilter` answers, for a route served outside Nest's pipeline (the release route).
 * `challenge`: the `WWW-Authenticate` value of a 401.
 */
export function sendProblem(err: unknown, req: FastifyRequest, reply: FastifyReply, challenge = 'Bearer error="invalid_token"'): void {
  const c = classify(err);
  PROBLEM_CODES.set(req, c.code);
  if (c.retryAfter !== undefined) reply.header('Retry-After', String(c.retryAfter));
  if (c.status === 401) reply.header('WWW-Authenticate', challenge);
  reply
    .status(c.status)
    .header('Content-Type', 'application/problem+json')
    .header('Cache-Control', 'no-store')
    .send({ ...problemOf(c), instance: req.url.split('?')[0] });
}

function problemOf(c: ClassifiedError): Record<string, unknown> {
  const body = { type: 'about:blank', title: REASON_PHRASES[c.status] ?? 'Error', status: c.status, code: c.code, detail: c.detail };
  return c.errorId !== undefined ? { ...body, error_id: c.errorId } : { ...body, ...c.extra };
}
