import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { randomUUID } from 'node:crypto';
import { isDatabaseUnavailable } from '../../../libs/db';
import { DomainError } from '../../../libs/kernel';
import { OAuthError } from '../../../libs/token-service';

/** The route whose errors `OAuthErrorFilter` answers, also those before its handler runs (ProblemFilter). */
export const TOKEN_ROUTE = '/oauth2/token';

/**
 * The token endpoint answers errors the OAuth way (RFC 6749 §5.2: `{ error, error_description }`),
 * not as problem+json. `invalid_client` is a 401 with a `WWW-Authenticate: Basic` challenge;
 * 429 and 503 carry `Retry-After`. Unknown errors become an opaque `server_error` with an id
 * that is logged (class and code only).
 */
@Catch()
export class OAuthErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('oauth');

  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const e = this.toOAuthError(err);
    if (e.error === 'invalid_client') reply.header('WWW-Authenticate', 'Basic realm="credential-vault", charset="UTF-8"');
    if (e.extra.retryAfter !== undefined) reply.header('Retry-After', String(e.extra.retryAfter));
    void reply
      .status(e.status)
      .header('Content-Type', 'application/json')
      .header('Cache-Control', 'no-store')
      .header('Pragma', 'no-cache')
      .send({ error: e.error, error_description: e.description });
  }

  private toOAuthError(err: unknown): OAuthError {
    if (err instanceof OAuthError) return err;
    if (err instanceof DomainError && err.code === 'unavailable') return new OAuthError('temporarily_unavailable', err.detail, { retryAfter: err.details.retryAfter ?? 1 });
    if (isDatabaseUnavailable(err)) return new OAuthError('temporarily_unavailable', 'the database is unavailable; no token was issued', { retryAfter: 1 });
    const status = err instanceof HttpException ? err.getStatus() : (err as { statusCode?: number } | null)?.statusCode;
    // Framework errors before our code ran (unparseable or oversized body, wrong media type).
    if (typeof status === 'number' && status >= 400 && status < 500) return new OAuthError('invalid_request', 'the request could not be read');
    const errorId = randomUUID();
    const e = err as { name?: unknown; code?: unknown } | null | undefined;
    this.log.error(`error_id=${errorId} type=${safe(e?.name) ?? typeof err} code=${safe(e?.code) ?? '-'}`);
    return new OAuthError('server_error', `an internal error occurred (error id ${errorId})`);
  }
}

function safe(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(value) ? value : undefined;
}
