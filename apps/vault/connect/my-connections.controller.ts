import { Controller, Get, Inject, Param, Post, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConnectSessionService, ConsentViewService, csrfToken, DisconnectService } from '../../../libs/connect';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { asTenantId, DomainError } from '../../../libs/kernel';
import { UserSignIn } from '../../../libs/users';
import { validName } from '../http/names';
import { checkForm, cookiesOf, formField } from './form';
import { ConsentPageFilter } from './page-error.filter';
import { connectionsPage, messagePage } from './pages/consent.pages';
import { redirect, sendPage } from './pages/html';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';

const NO_SESSION = 'Open the connect link the app gave you to see your connections here.';
const SIGN_IN = 'Sign in to your account to see your connections. An app may also give you a connect link that opens them.';

/**
 * "Your connections" (`/connections`): the user of the connect session this browser holds sees
 * their connections (status, last agent from audit) and can reconnect or disconnect them.
 */
@Controller('connections')
@UseFilters(ConsentPageFilter)
@UseGuards(PageIpRateLimitGuard)
export class MyConnectionsController {
  private readonly origin: string;

  constructor(
    private readonly sessions: ConnectSessionService,
    private readonly views: ConsentViewService,
    private readonly disconnects: DisconnectService,
    private readonly signIn: UserSignIn,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'publicUrl' | 'users'>,
  ) {
    this.origin = new URL(config.publicUrl).origin;
  }

  @Get()
  async list(@Query() q: Record<string, unknown>, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const held = await this.sessions.anyForBrowser(cookiesOf(req));
    if (!held) return this.noSession(reply);
    const { session, secret } = held;
    const [rows, tenant] = await Promise.all([
      this.views.connectionsOf(session.tenant, session.subject),
      this.views.tenantShown(session.tenant),
    ]);
    const connected = typeof q.connected === 'string' ? rows.find((r) => r.integration === q.connected) : undefined;
    // Only names of this tenant's integrations: the query string is anyone's to write.
    const gone =
      typeof q.disconnected === 'string' && /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/.test(q.disconnected) ? q.disconnected : undefined;
    const disconnected =
      !connected && gone && !rows.some((r) => r.integration === gone) ? await this.views.titleOf(session.tenant, gone) : null;
    const notice = connected ? `${connected.title} is connected.` : disconnected ? `${disconnected} was disconnected.` : null;
    sendPage(
      reply,
      200,
      'Your connections',
      connectionsPage(tenant, session.subject, rows, session.id, csrfToken(secret, session.id), notice),
      {
        logoUrl: tenant.logoUrl,
      },
    );
  }

  @Post(':integration/disconnect')
  async disconnect(
    @Param('integration', validName('integration')) integration: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { session } = await this.posted(req);
    await this.disconnects.disconnect(session.tenant, integration, session.subject, `user:${session.subject}`);
    redirect(reply, `/connections?disconnected=${encodeURIComponent(integration)}`);
  }

  @Post(':integration/reconnect')
  async reconnect(
    @Param('integration', validName('integration')) integration: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { session } = await this.posted(req);
    const next = await this.sessions.reconnect(session, integration);
    redirect(reply, `/connect/s/${next.session.id}`, next.setCookie);
  }

  /**
   * No connect session in this browser: where the tenant without a `/t/{tenant}` prefix (VAULT_DEFAULT_TENANT)
   * lets people sign in, `/account` shows the same connections; otherwise only a connect link does.
   */
  private async noSession(reply: FastifyReply): Promise<void> {
    if (!(await this.signIn.configured(asTenantId(this.config.users.defaultTenant)))) throw new DomainError('forbidden', NO_SESSION);
    sendPage(reply, 403, 'Sign in', messagePage('Sign in', SIGN_IN, [{ href: '/account', label: 'Sign in' }]));
  }

  /** The form names the session whose cookie signs its CSRF token. */
  private async posted(req: FastifyRequest) {
    const id = formField(req, 'session') ?? '';
    const held = await this.sessions.authenticate(/^[0-9a-f-]{36}$/.test(id) ? id : '', cookiesOf(req));
    checkForm(req, this.origin, held.secret, held.session.id);
    return held;
  }
}
