import { Controller, Get, HttpCode, Post, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KEY_OPERATOR_SCOPE } from '../../../libs/keys';
import { DashboardIpRateLimitGuard } from './dashboard-rate-limit';
import { DashboardSession } from './dashboard-session';
import { DashboardPageFilter } from './dashboard-page.filter';
import { dashboardPage } from './dashboard-page';
import { DashboardService } from './dashboard.service';
import { redirectTo, sendDashboardPage } from './page';

const SIGN_IN = {
  status: 401,
  description: 'The sign-in page (no token, or one that is not accepted)',
  content: { 'text/html': { schema: { type: 'string' } } },
};

/**
 * The operator dashboard (`vault:admin`, own tenant only; with `vault:operator` its security view covers
 * every tenant and the refusals no tenant can be named for): a server-rendered page that works
 * without JavaScript. `Authorization: Bearer` works for tools; people sign in with the form.
 * Rate limited like the admin API (DashboardIpRateLimitGuard, RouteRateLimits).
 */
@Controller('dashboard')
@UseFilters(DashboardPageFilter)
@UseGuards(DashboardIpRateLimitGuard)
export class DashboardController {
  constructor(
    private readonly session: DashboardSession,
    private readonly dashboard: DashboardService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Operator dashboard (HTML, vault:admin)' })
  @ApiResponse({ status: 200, description: 'The dashboard', content: { 'text/html': { schema: { type: 'string' } } } })
  @ApiResponse(SIGN_IN)
  async show(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const admin = await this.session.authenticate(req);
    const view = await this.dashboard.view(admin.tenant, new Date(), admin.scopes.includes(KEY_OPERATOR_SCOPE));
    const csrf = this.session.csrf(req);
    sendDashboardPage(
      reply,
      200,
      `Operator dashboard · ${admin.tenant}`,
      dashboardPage(view, csrf.token),
      csrf.setCookie ? { 'set-cookie': csrf.setCookie } : {},
    );
  }

  @Post('session')
  @HttpCode(303)
  @ApiOperation({ summary: 'Sign in to the dashboard (form: token, csrf)' })
  @ApiResponse(SIGN_IN)
  async signIn(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    redirectTo(reply, '/dashboard', await this.session.signIn(req));
  }

  @Post('session/end')
  @HttpCode(303)
  @ApiOperation({ summary: 'Sign out of the dashboard (form: csrf)' })
  signOut(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    redirectTo(reply, '/dashboard', this.session.signOut(req));
  }
}
