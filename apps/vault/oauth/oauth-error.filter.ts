import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { OAuthError } from '../../../libs/token-service';
import { asInternal, classify } from '../http/error-classifier';

/** The route whose errors `OAuthErrorFilter` answers, also those before its handler runs (ProblemFilter). */
export const TOKEN_ROUTE = '/oauth2/token';
/** The other routes that answer errors the OAuth way. */
export const OAUTH_FORM_ROUTES = [TOKEN_ROUTE, '/oauth2/revoke', '/oauth2/introspect'];

/**
 * The token endpoint answers errors the OAuth way (RFC 6749 §5.2: `{ error, error_description }`),
 * not as problem+json. `invalid_client` is a 401 with a `WWW-Authenticate: Basic` challenge;
 * 429 and 503 carry `Retry-After`. Anything that is not an `OAuthError`, unavailable or unreadable
 * becomes an opaque `server_error` with an error id (`classify`).
 */
@Catch()
export class OAuthErrorFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const e = err instanceof OAuthError ? err : toOAuthError(err);
    if (e.error === 'invalid_client') reply.header('WWW-Authenticate', 'Basic realm="credential-vault", charset="UTF-8"');
    if (e.extra.retryAfter !== undefined) reply.header('Retry-After', String(e.extra.retryAfter));
    void reply
      .status(e.status)
      .header('Content-Type', 'application/json')
      .header('Cache-Control', 'no-store')
      .header('Pragma', 'no-cache')
      .send({ error: e.error, error_description: e.description });
  }
}

function toOAuthError(err: unknown): OAuthError {
  const c = classify(err);
  switch (c.kind) {
    case 'unavailable':
      return new OAuthError(
        'temporarily_unavailable',
        c.origin === 'database' ? 'the database is unavailable; no token was issued' : c.detail,
        { retryAfter: c.retryAfter ?? 1 },
      );
    case 'unreadable':
      return new OAuthError('invalid_request', 'the request could not be read');
    case 'internal':
      return serverError(c.errorId!);
    case 'refusal':
    case 'not_implemented':
      // The token service refuses with OAuthErrors; a domain refusal reaching here is a bug.
      return serverError(asInternal(err).errorId!);
  }
}

function serverError(errorId: string): OAuthError {
  return new OAuthError('server_error', `an internal error occurred (error id ${errorId})`);
}
