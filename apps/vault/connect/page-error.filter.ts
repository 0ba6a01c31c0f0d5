import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { randomUUID } from 'node:crypto';
import { isDatabaseUnavailable } from '../../../libs/db';
import { DomainError } from '../../../libs/kernel';
import { messagePage } from './pages/consent.pages';
import { sendPage } from './pages/html';

const TITLES: Record<number, string> = { 400: 'This link cannot be used', 403: 'Not allowed', 404: 'Not found', 409: 'Conflict', 503: 'Try again in a moment' };

/**
 * Errors on the consent pages and the OAuth callback become pages, not JSON: the public detail
 * of a `DomainError` (never a secret, by its contract), or an opaque error id for anything else.
 * Only the error's class and code are logged, as in the API's problem filter.
 */
@Catch()
export class ConsentPageFilter implements ExceptionFilter {
  private readonly log = new Logger('consent');

  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const links = [{ href: '/connections', label: 'Your connections' }];
    if (err instanceof DomainError && err.status < 500) {
      sendPage(reply, err.status, TITLES[err.status] ?? 'Something went wrong', messagePage(TITLES[err.status] ?? 'Something went wrong', err.detail, links, true));
      return;
    }
    if (err instanceof DomainError && err.code === 'unavailable') {
      if (err.details.retryAfter !== undefined) reply.header('retry-after', String(err.details.retryAfter));
      sendPage(reply, 503, TITLES[503], messagePage(TITLES[503], err.detail, links, true));
      return;
    }
    if (isDatabaseUnavailable(err)) {
      sendPage(reply, 503, TITLES[503], messagePage(TITLES[503], 'The vault is temporarily unavailable. Nothing was changed.', links, true));
      return;
    }
    const status = err instanceof HttpException ? err.getStatus() : (err as { statusCode?: number } | null)?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendPage(reply, status, 'Bad request', messagePage('Bad request', 'The request was malformed.', links, true));
      return;
    }
    const errorId = randomUUID();
    const e = err as { name?: unknown; code?: unknown } | null;
    const token = (v: unknown) => (typeof v === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(v) ? v : '-');
    this.log.error(`error_id=${errorId} type=${token(e?.name)} code=${token(e?.code)}`);
    sendPage(reply, 500, 'Something went wrong', messagePage('Something went wrong', `Nothing was changed. If it happens again, quote error ${errorId}.`, links, true));
  }
}
