import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { asInternal, classify, ClassifiedError } from '../http/error-classifier';
import { DashboardSession } from './dashboard-session';
import { messagePage, signInPage } from './dashboard-page';
import { sendDashboardPage } from './page';

const BACK = [{ href: '/dashboard', label: 'Back to the dashboard' }];

/**
 * Errors on the dashboard are pages, rendered from the one classification (`classify`). 401 is
 * the sign-in form (with a Bearer challenge, and the session cookie cleared if the one sent no
 * longer works); other refusals show the error's public detail; anything unexpected an opaque
 * error id.
 */
@Catch()
export class DashboardPageFilter implements ExceptionFilter {
  constructor(private readonly session: DashboardSession) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<FastifyRequest>();
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const c = classify(err);
    switch (c.kind) {
      case 'refusal':
        return this.refusal(c, req, reply);
      case 'unavailable':
        return sendDashboardPage(
          reply,
          503,
          'Try again in a moment',
          messagePage('Try again in a moment', 'The vault is temporarily unavailable.', BACK),
          { 'retry-after': '5' },
        );
      case 'unreadable':
        return sendDashboardPage(reply, c.status, 'Bad request', messagePage('Bad request', 'The request was malformed.', BACK));
      case 'not_implemented':
      case 'internal': {
        const errorId = c.errorId ?? asInternal(err).errorId;
        return sendDashboardPage(
          reply,
          500,
          'Something went wrong',
          messagePage('Something went wrong', `If it happens again, quote error ${errorId}.`, BACK),
        );
      }
    }
  }

  private refusal(c: ClassifiedError, req: FastifyRequest, reply: FastifyReply): void {
    if (c.code === 'invalid_token') {
      const csrf = this.session.csrf(req);
      const cookies = [
        ...(csrf.setCookie ? [csrf.setCookie] : []),
        ...(this.session.hasSessionCookie(req) ? [this.session.clearSession()] : []),
      ];
      const first = req.method === 'GET' && !req.headers.authorization && !this.session.hasSessionCookie(req);
      sendDashboardPage(reply, 401, 'Sign in', signInPage(csrf.token, first ? null : c.detail), {
        'www-authenticate': 'Bearer',
        ...(cookies.length ? { 'set-cookie': cookies } : {}),
      });
      return;
    }
    if (c.code === 'rate_limited') {
      const retryAfter = String(c.retryAfter ?? 1);
      sendDashboardPage(reply, 429, 'Too many requests', messagePage('Too many requests', `Try again in ${retryAfter} s.`, BACK), {
        'retry-after': retryAfter,
      });
      return;
    }
    sendDashboardPage(
      reply,
      c.status,
      'Not allowed',
      messagePage(c.status === 403 ? 'Not allowed' : 'This request cannot be used', c.detail, BACK),
    );
  }
}
