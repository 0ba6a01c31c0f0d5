import { Controller, Get, Inject, Param, Post, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApprovalDecisions } from '../../../libs/approvals';
import { AuthorizeService } from '../../../libs/authorization';
import { AccountViewService, csrfToken, DisconnectService } from '../../../libs/connect';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { asTenantId, DomainError, TenantId } from '../../../libs/kernel';
import { TenantProfileService } from '../../../libs/tenants';
import { UserSession, UserSignIn } from '../../../libs/users';
import { checkForm, formField } from '../connect/form';
import { ConsentPageFilter } from '../connect/page-error.filter';
import { messagePage } from '../connect/pages/consent.pages';
import { redirect, sendPage } from '../connect/pages/html';
import { validName } from '../http/names';
import { accountPage, disconnectPage } from './account.pages';
import { consentsSection } from './authorize.pages';
import { UserCookies } from './user-cookies';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';

const NOTICES: Record<string, string> = {
  off: 'The agent is turned off for that account.',
  on: 'The agent is turned back on for that account.',
  disconnected: 'The account was disconnected.',
  revoked: 'The app no longer has access.',
};

/** Both spellings of every route: `/t/{tenant}/…`, and without the prefix for VAULT_DEFAULT_TENANT (CONTRACT.md). */
const both = (path: string) => [path, `t/:tenant/${path}`];

/**
 * "Your account" (issue 17 §2): a person signed in through the tenant's OpenID provider sees their
 * connections, turns agents off and on per connection, disconnects (after a confirmation page),
 * sees their own recent activity and signs out. Every form carries a CSRF token bound to the session.
 */
@Controller()
@UseFilters(ConsentPageFilter)
@UseGuards(PageIpRateLimitGuard)
export class AccountController {
  private readonly origin: string;
  private readonly cookies: UserCookies;

  constructor(
    private readonly signIn: UserSignIn,
    private readonly views: AccountViewService,
    private readonly disconnects: DisconnectService,
    private readonly approvals: ApprovalDecisions,
    private readonly tenants: TenantProfileService,
    private readonly authorizations: AuthorizeService,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'publicUrl' | 'users'>,
  ) {
    this.origin = new URL(config.publicUrl).origin;
    this.cookies = new UserCookies(config.publicUrl.startsWith('https:'));
  }

  @Get(both('account'))
  async account(
    @Param('tenant') t: string | undefined,
    @Query('notice') notice: unknown,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { tenant, base } = this.tenantOf(t);
    const session = await this.signIn.session(tenant, this.cookies.read(req, this.cookies.sessionName(tenant)));
    if (!session) {
      const started = await this.signIn.start(tenant, `${base}/account`);
      reply.header('set-cookie', this.cookies.flow(started.flowCookie, started.maxAgeSeconds));
      return redirect(reply, started.url);
    }
    const [connections, activity, shown, consents, pending] = await Promise.all([
      this.views.connections(tenant, session.subject),
      this.views.activity(tenant, session.subject),
      this.tenants.shown(tenant),
      this.authorizations.consents(tenant, session.subject),
      this.approvals.pending(tenant, session.subject),
    ]);
    const csrf = csrfToken(this.secretOf(req, tenant), session.id);
    sendPage(
      reply,
      200,
      'Your account',
      accountPage(
        base,
        { tenantName: shown.name, logoUrl: shown.logoUrl, who: session.email ?? session.subject, roles: session.roles },
        connections,
        activity,
        csrf,
        typeof notice === 'string' ? (NOTICES[notice] ?? null) : null,
        consentsSection(base, consents, csrf),
        pending,
      ),
      { logoUrl: shown.logoUrl },
    );
  }

  @Post(both('account/connections/:integration/agents/:agent/:state'))
  async toggle(
    @Param('tenant') t: string | undefined,
    @Param('integration', validName('integration')) integration: string,
    @Param('agent', validName('agent')) agent: string,
    @Param('state') state: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    if (state !== 'on' && state !== 'off') throw new DomainError('not_found', 'No such page.');
    const { tenant, base } = this.tenantOf(t);
    const session = await this.posted(tenant, req);
    await this.views.setSwitch(tenant, session.subject, integration, agent, state === 'on');
    redirect(reply, `${base}/account?notice=${state}`);
  }

  @Get(both('account/connections/:integration/disconnect'))
  async confirmDisconnect(
    @Param('tenant') t: string | undefined,
    @Param('integration', validName('integration')) integration: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { tenant, base } = this.tenantOf(t);
    const session = await this.signedIn(tenant, req);
    const c = (await this.views.connections(tenant, session.subject)).find((x) => x.integration === integration);
    if (!c) throw new DomainError('not_found', 'You have no such connection.');
    sendPage(reply, 200, `Disconnect ${c.title}?`, disconnectPage(base, c, csrfToken(this.secretOf(req, tenant), session.id)));
  }

  @Post(both('account/connections/:integration/disconnect'))
  async disconnect(
    @Param('tenant') t: string | undefined,
    @Param('integration', validName('integration')) integration: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { tenant, base } = this.tenantOf(t);
    const session = await this.posted(tenant, req);
    await this.disconnects.disconnect(tenant, integration, session.subject, `user:${session.subject}`);
    redirect(reply, `${base}/account?notice=disconnected`);
  }

  /** Take back an app's access given on the /oauth2/authorize consent page: its refresh tokens stop working. */
  @Post(both('account/authorizations/revoke'))
  async revokeAuthorization(@Param('tenant') t: string | undefined, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { tenant, base } = this.tenantOf(t);
    const session = await this.posted(tenant, req);
    await this.authorizations.revokeConsent(tenant, session.subject, formField(req, 'client_id') ?? '', formField(req, 'resource') ?? '');
    redirect(reply, `${base}/account?notice=revoked`);
  }

  @Post(both('account/sign-out'))
  async signOut(@Param('tenant') t: string | undefined, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { tenant, base } = this.tenantOf(t);
    const session = await this.posted(tenant, req);
    await this.signIn.signOut(session.id);
    reply.header('set-cookie', this.cookies.clearSession(tenant));
    sendPage(
      reply,
      200,
      'Signed out',
      messagePage('Signed out', 'You are signed out of the vault.', [{ href: `${base}/account`, label: 'Sign in again' }]),
    );
  }

  private tenantOf(param: string | undefined): { tenant: TenantId; base: string } {
    try {
      return param === undefined
        ? { tenant: asTenantId(this.config.users.defaultTenant), base: '' }
        : { tenant: asTenantId(param), base: `/t/${encodeURIComponent(param)}` };
    } catch {
      throw new DomainError('not_found', 'No such tenant.');
    }
  }

  private secretOf(req: FastifyRequest, tenant: TenantId): string {
    return this.cookies.read(req, this.cookies.sessionName(tenant)) ?? '';
  }

  private async signedIn(tenant: TenantId, req: FastifyRequest): Promise<UserSession> {
    const session = await this.signIn.session(tenant, this.secretOf(req, tenant));
    if (!session)
      throw new DomainError('forbidden', 'You are not signed in, or your session has ended. Open your account page to sign in again.');
    return session;
  }

  /** A form post: a live session, and the CSRF token that session's cookie signs (and the vault's own origin). */
  private async posted(tenant: TenantId, req: FastifyRequest): Promise<UserSession> {
    const session = await this.signedIn(tenant, req);
    checkForm(req, this.origin, this.secretOf(req, tenant), session.id);
    return session;
  }
}
