import { Controller, Get, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthorizationFlow, withOutcome } from '../../../libs/connect';
import { cookiesOf } from './form';
import { ConsentPageFilter } from './page-error.filter';
import { messagePage } from './pages/consent.pages';
import { redirect, sendPage } from './pages/html';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';

/**
 * `GET /oauth/callback` (the one redirect URI, `${VAULT_PUBLIC_URL}/oauth/callback`). Refusals
 * are 400 pages; success sends the browser back to the app's return URL (or the connections page).
 */
@Controller('oauth')
@UseFilters(ConsentPageFilter)
@UseGuards(PageIpRateLimitGuard)
export class OAuthCallbackController {
  constructor(private readonly flow: AuthorizationFlow) {}

  @Get('callback')
  async callback(@Query() query: Record<string, unknown>, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const r = await this.flow.callback(query ?? {}, cookiesOf(req));
    const { session } = r;
    if (r.outcome === 'connected') {
      return redirect(
        reply,
        session.returnUrl
          ? withOutcome(session.returnUrl, 'connected', session.integration)
          : `/connections?connected=${encodeURIComponent(session.integration)}`,
      );
    }
    if (session.returnUrl) return redirect(reply, withOutcome(session.returnUrl, r.outcome, session.integration, r.error));
    const title = r.outcome === 'cancelled' ? 'Not connected' : 'The provider refused';
    sendPage(
      reply,
      200,
      title,
      messagePage(
        title,
        r.outcome === 'cancelled'
          ? 'You declined at the provider. Nothing was connected.'
          : `The provider answered with an error (${r.error}). Nothing was connected.`,
        [{ href: `/connect/s/${session.id}`, label: 'Try again' }],
      ),
    );
  }
}
