import { Controller, Get, Inject, Param, Post, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  AuthorizationFlow,
  checkCsrf,
  ConnectSessionService,
  ConsentActions,
  ConsentViewService,
  csrfToken,
  withOutcome,
} from '../../../libs/connect';
import type { BrowserSession } from '../../../libs/connect';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { DomainError } from '../../../libs/kernel';
import { checkForm, cookiesOf, formField } from './form';
import { ConsentPageFilter } from './page-error.filter';
import { apiKeyPage, consentPage, messagePage, openLinkPage } from './pages/consent.pages';
import { redirect, sendPage } from './pages/html';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';

/** The Continue form's token is derived from the link's secret: before a claim there is no session to bind one to. */
const LINK_FORM = 'connect-link';
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The consent pages (CONTRACT.md): `GET /connect/{secret}` shows a Continue button whose POST
 * claims the session for this browser and sends it on to the session's page; Connect / Cancel / the API-key form post back with a CSRF
 * token. Controllers validate and delegate; the flow lives in libs/connect.
 */
@Controller('connect')
@UseFilters(ConsentPageFilter)
@UseGuards(PageIpRateLimitGuard)
export class ConsentController {
  private readonly origin: string;

  constructor(
    private readonly sessions: ConnectSessionService,
    private readonly flow: AuthorizationFlow,
    private readonly actions: ConsentActions,
    private readonly views: ConsentViewService,
    @Inject(VAULT_CONFIG) config: Pick<VaultConfig, 'publicUrl'>,
  ) {
    this.origin = new URL(config.publicUrl).origin;
  }

  /**
   * Opening a link does not use it up (link previews and mail scanners open links): a page with one
   * button; the browser whose person presses it claims the session. A browser that holds it already goes on.
   */
  @Get(':secret')
  async open(@Param('secret') secret: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const seen = await this.sessions.peek(secret, cookiesOf(req));
    if ('held' in seen) return redirect(reply, `/connect/s/${seen.held.session.id}`);
    const title = (await this.views.titleOf(seen.pending.tenant, seen.pending.integration)) ?? seen.pending.integration;
    const tenant = await this.views.tenantShown(seen.pending.tenant);
    sendPage(reply, 200, `Connect your ${title} account`, openLinkPage(title, tenant, `/connect/${secret}`, csrfToken(secret, LINK_FORM)), {
      logoUrl: tenant.logoUrl,
    });
  }

  /** The link's secret is the credential here (no session exists yet to bind a CSRF token to); the form must come from the vault's own page. */
  @Post(':secret')
  async claim(@Param('secret') secret: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== this.origin)
      throw new DomainError('forbidden', "This form was not sent from the vault's own page.");
    if (!checkCsrf(secret, LINK_FORM, formField(req, 'csrf')))
      throw new DomainError('forbidden', 'Open the link again and press Continue.');
    const held = await this.sessions.claim(secret, cookiesOf(req));
    redirect(reply, `/connect/s/${held.session.id}`, held.setCookie);
  }

  @Get('s/:id')
  async page(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { session, secret } = await this.held(id, req);
    const back = session.returnUrl ? [{ href: session.returnUrl, label: 'Back to the app' }] : [];
    if (session.status === 'completed' || session.status === 'cancelled') {
      const done = session.status === 'completed';
      sendPage(
        reply,
        200,
        done ? 'Connected' : 'Cancelled',
        messagePage(done ? 'Connected' : 'Cancelled', done ? 'This account is connected.' : 'Nothing was connected.', [
          ...back,
          { href: '/connections', label: 'Your connections' },
        ]),
      );
      return;
    }
    const view = await this.views.consent(session);
    const csrf = csrfToken(secret, session.id);
    const returnOrigin = session.returnUrl ? [new URL(session.returnUrl).origin] : [];
    if (view.kind === 'api_key') {
      sendPage(reply, 200, `Add your ${view.title} API key`, apiKeyPage(view, session.id, csrf), {
        formAction: returnOrigin,
        logoUrl: view.logoUrl,
      });
      return;
    }
    const providerOrigin = view.providerHost ? [new URL((await this.flow.provider(session)).provider.authorizeUrl).origin] : [];
    sendPage(reply, 200, `Connect your ${view.providerName} account`, consentPage(view, session.id, csrf), {
      formAction: [...providerOrigin, ...returnOrigin],
      logoUrl: view.logoUrl,
    });
  }

  @Post('s/:id/authorize')
  async authorize(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { session } = await this.posted(id, req);
    redirect(reply, await this.flow.start(session));
  }

  @Post('s/:id/cancel')
  async cancel(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { session } = await this.posted(id, req);
    await this.actions.cancel(session);
    if (session.returnUrl) return redirect(reply, withOutcome(session.returnUrl, 'cancelled', session.integration));
    sendPage(
      reply,
      200,
      'Cancelled',
      messagePage('Cancelled', 'Nothing was connected. You can close this page.', [{ href: '/connections', label: 'Your connections' }]),
    );
  }

  @Post('s/:id/api-key')
  async apiKey(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { session } = await this.posted(id, req);
    await this.actions.pasteApiKey(session, formField(req, 'api_key') ?? '');
    if (session.returnUrl) return redirect(reply, withOutcome(session.returnUrl, 'connected', session.integration));
    redirect(reply, `/connections?connected=${encodeURIComponent(session.integration)}`);
  }

  private async held(id: string, req: FastifyRequest): Promise<BrowserSession> {
    return this.sessions.authenticate(SESSION_ID.test(id) ? id : '', cookiesOf(req));
  }

  private async posted(id: string, req: FastifyRequest): Promise<BrowserSession> {
    const held = await this.held(id, req);
    checkForm(req, this.origin, held.secret, held.session.id);
    return held;
  }
}
