import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { asInternal, classify } from '../http/error-classifier';
import { messagePage } from './pages/consent.pages';
import { sendPage } from './pages/html';

const TITLES: Record<number, string> = {
  400: 'This link cannot be used',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  429: 'Try again in a moment',
  503: 'Try again in a moment',
};

/**
 * Errors on the consent pages and the OAuth callback become pages, not JSON, rendered from the one
 * classification (`classify`): the public detail of a domain refusal (never a secret, by its
 * contract), or an opaque error id for anything unexpected.
 */
@Catch()
export class ConsentPageFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const links = [{ href: '/connections', label: 'Your connections' }];
    const page = (status: number, title: string, detail: string) => sendPage(reply, status, title, messagePage(title, detail, links, true));
    const c = classify(err);
    switch (c.kind) {
      case 'refusal':
        if (c.retryAfter !== undefined) reply.header('retry-after', String(c.retryAfter));
        return page(c.status, TITLES[c.status] ?? 'Something went wrong', c.detail);
      case 'unavailable':
        if (c.origin === 'database') return page(503, TITLES[503], 'The vault is temporarily unavailable. Nothing was changed.');
        if (c.retryAfter !== undefined) reply.header('retry-after', String(c.retryAfter));
        return page(503, TITLES[503], c.detail);
      case 'unreadable':
        return page(c.status, 'Bad request', 'The request was malformed.');
      case 'not_implemented':
      case 'internal': {
        const errorId = c.errorId ?? asInternal(err).errorId;
        return page(500, 'Something went wrong', `Nothing was changed. If it happens again, quote error ${errorId}.`);
      }
    }
  }
}
