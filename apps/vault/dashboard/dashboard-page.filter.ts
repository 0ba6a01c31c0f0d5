import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { isDatabaseUnavailable } from '../../../libs/db';
import { DomainError } from '../../../libs/kernel';
import { DashboardSession } from './dashboard-session';
import { messagePage, signInPage } from './dashboard-page';
import { sendDashboardPage } from './page';

/**
 * Errors on the dashboard are pages. 401 is the sign-in form (with a Bearer challenge, and the
 * session cookie cleared if the one sent no longer works); other refusals show the error's public
 * detail; anything unexpected an opaque error id, with only class and code logged.
 */
@Catch()
export class DashboardPageFilter implements ExceptionFilter {
  private readonly log = new Logger('dashboard');

  constructor(private readonly session: DashboardSession) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<FastifyRequest>();
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const back = [{ href: '/dashboard', label: 'Back to the dashboard' }];
    if (err instanceof DomainError && err.code === 'invalid_token') {
      const csrf = this.session.csrf(req);
      const cookies = [...(csrf.setCookie ? [csrf.setCookie] : []), ...(this.session.hasSessionCookie(req) ? [this.session.clearSession()] : [])];
      const first = req.method === 'GET' && !req.headers.authorization && !this.session.hasSessionCookie(req);
      sendDashboardPage(reply, 401, 'Sign in', signInPage(csrf.token, first ? null : err.detail), { 'www-authenticate': 'Bearer', ...(cookies.length ? { 'set-cookie': cookies } : {}) });
      return;
    }
    if (err instanceof DomainError && err.code === 'rate_limited') {
      const retryAfter = String(err.details.retryAfter ?? 1);
      sendDashboardPage(reply, 429, 'Too many requests', messagePage('Too many requests', `Try again in ${retryAfter} s.`, back), { 'retry-after': retryAfter });
      return;
    }
    if (err instanceof DomainError && err.status < 500) {
      sendDashboardPage(reply, err.status, 'Not allowed', messagePage(err.status === 403 ? 'Not allowed' : 'This request cannot be used', err.detail, back));
      return;
    }
    if ((err instanceof DomainError && err.code === 'unavailable') || isDatabaseUnavailable(err)) {
      sendDashboardPage(reply, 503, 'Try again in a moment', messagePage('Try again in a moment', 'The vault is temporarily unavailable.', back), { 'retry-after': '5' });
      return;
    }
    const status = err instanceof HttpException ? err.getStatus() : (err as { statusCode?: number } | null)?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendDashboardPage(reply, status, 'Bad request', messagePage('Bad request', 'The request was malformed.', back));
      return;
    }
    const errorId = randomUUID();
    const e = err as { name?: unknown; code?: unknown } | null;
    const token = (v: unknown) => (typeof v === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(v) ? v : '-');
    this.log.error(`error_id=${errorId} type=${token(e?.name)} code=${token(e?.code)}`);
    sendDashboardPage(reply, 500, 'Something went wrong', messagePage('Something went wrong', `If it happens again, quote error ${errorId}.`, back));
  }
}
