import { Controller, Get, Inject, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthorizeService } from '../../../libs/authorization';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { csrfToken } from '../../../libs/connect';
import { asTenantId, DomainError, TenantId } from '../../../libs/kernel';
import { UserSession, UserSignIn } from '../../../libs/users';
import { checkForm, formField } from '../connect/form';
import { ConsentPageFilter } from '../connect/page-error.filter';
import { redirect, sendPage } from '../connect/pages/html';
import { authorizeConsentPage } from './authorize.pages';
import { UserCookies } from './user-cookies';

const both = (path: string) => [path, `t/:tenant/${path}`];

/**
 * `GET /oauth2/authorize` (OAuth 2.1 for MCP clients) and the consent decision. The person signs in
 * with the tenant's OpenID provider as on /account (the same session); the use case is `AuthorizeService`.
 */
@Controller()
@UseFilters(ConsentPageFilter)
export class AuthorizeController {
  private readonly origin: string;
  private readonly cookies: UserCookies;

  constructor(
    private readonly authz: AuthorizeService,
    private readonly signIn: UserSignIn,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'publicUrl' | 'users'>,
  ) {
    this.origin = new URL(config.publicUrl).origin;
    this.cookies = new UserCookies(config.publicUrl.startsWith('https:'));
  }

  @Get(both('oauth2/authorize'))
  async authorize(@Param('tenant') t: string | undefined, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { tenant, base } = this.tenantOf(t);
    const valid = await this.authz.validate(tenant, req.query as Record<string, unknown>);
    if ('kind' in valid) return redirect(reply, valid.url);
    const session = await this.signIn.session(tenant, this.secretOf(req, tenant));
    if (!session) {
      // Back here after signing in, with the same query.
      const started = await this.signIn.start(tenant, req.url);
      reply.header('set-cookie', this.cookies.flow(started.flowCookie, started.maxAgeSeconds));
      return redirect(reply, started.url);
    }
    const step = await this.authz.prepare(valid, { sessionId: session.id, subject: session.subject, roles: session.roles });
    if (step.kind === 'redirect') return redirect(reply, step.url);
    const csrf = csrfToken(this.secretOf(req, tenant), session.id);
    const body = authorizeConsentPage(
      base,
      session.email ?? session.subject,
      step.client,
      step.resource,
      step.granted,
      step.refused,
      step.requestId,
      csrf,
    );
    // CSP form-action also governs where the form's answer redirects: the client's origin.
    sendPage(reply, 200, `Allow ${step.client.client_name}?`, body, { formAction: [step.redirectOrigin] });
  }

  @Post(both('oauth2/authorize/decision'))
  async decision(@Param('tenant') t: string | undefined, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { tenant } = this.tenantOf(t);
    const session = await this.posted(tenant, req);
    const decision = formField(req, 'decision');
    if (decision !== 'allow' && decision !== 'deny') throw new DomainError('invalid_request', 'Answer with Allow or Deny.');
    const url = await this.authz.decide(
      tenant,
      { sessionId: session.id, subject: session.subject, roles: session.roles },
      formField(req, 'request') ?? '',
      decision === 'allow',
    );
    redirect(reply, url);
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

  private async posted(tenant: TenantId, req: FastifyRequest): Promise<UserSession> {
    const secret = this.secretOf(req, tenant);
    const session = await this.signIn.session(tenant, secret);
    if (!session) throw new DomainError('forbidden', 'You are not signed in, or your session has ended. Start again from the app.');
    checkForm(req, this.origin, secret, session.id);
    return session;
  }
}
