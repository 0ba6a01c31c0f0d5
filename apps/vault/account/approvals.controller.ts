import { Controller, Get, Inject, Param, Post, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApprovalDecisions, Approver } from '../../../libs/approvals';
import { AccountViewService, csrfToken } from '../../../libs/connect';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { asTenantId, DomainError, TenantId } from '../../../libs/kernel';
import { TenantProfileService } from '../../../libs/tenants';
import { UserSession, UserSignIn } from '../../../libs/users';
import { checkForm } from '../connect/form';
import { ConsentPageFilter } from '../connect/page-error.filter';
import { messagePage } from '../connect/pages/consent.pages';
import { redirect, sendPage } from '../connect/pages/html';
import { PageIpRateLimitGuard } from '../ops/page-rate-limit';
import { approvalPage } from './approval.pages';
import { UserCookies } from './user-cookies';

const both = (path: string) => [path, `t/:tenant/${path}`];
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The approval page (issue 17 §3): the link in the mail and the `approval.requested` webhook. Signed
 * in through the tenant's OpenID provider (not signed in: sign in, then back here); only the user the
 * request is about sees it (anyone else: a 403 page, audited). Approve / Deny are CSRF-checked forms,
 * each answered once.
 */
@Controller()
@UseFilters(ConsentPageFilter)
@UseGuards(PageIpRateLimitGuard)
export class ApprovalsController {
  private readonly origin: string;
  private readonly cookies: UserCookies;

  constructor(
    private readonly signIn: UserSignIn,
    private readonly decisions: ApprovalDecisions,
    private readonly accounts: AccountViewService,
    private readonly tenants: TenantProfileService,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'publicUrl' | 'users'>,
  ) {
    this.origin = new URL(config.publicUrl).origin;
    this.cookies = new UserCookies(config.publicUrl.startsWith('https:'));
  }

  @Get(both('account/approvals/:id'))
  async show(@Param('tenant') t: string | undefined, @Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const { tenant, base } = this.tenantOf(t);
    const approvalId = idOf(id);
    const session = await this.signIn.session(tenant, this.secretOf(req, tenant));
    if (!session) {
      const started = await this.signIn.start(tenant, `${base}/account/approvals/${approvalId}`);
      reply.header('set-cookie', this.cookies.flow(started.flowCookie, started.maxAgeSeconds));
      return redirect(reply, started.url);
    }
    const view = await this.decisions.view(tenant, approvalId, approver(session));
    // What the agent would get, in plain words: the user's own connection of each integration (its account and granted scopes).
    const [connections, shown] = await Promise.all([this.accounts.connections(tenant, session.subject), this.tenants.shown(tenant)]);
    const mine = new Map(connections.map((c) => [c.integration, c]));
    const csrf = csrfToken(this.secretOf(req, tenant), session.id);
    const page = approvalPage(base, session.email ?? session.subject, view, csrf, mine, shown);
    sendPage(reply, 200, `Approve ${view.agent.name}?`, page, { logoUrl: shown.logoUrl });
  }

  @Post(both('account/approvals/:id/:answer'))
  async answer(
    @Param('tenant') t: string | undefined,
    @Param('id') id: string,
    @Param('answer') answer: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    if (answer !== 'approve' && answer !== 'deny') throw new DomainError('not_found', 'No such page.');
    const { tenant, base } = this.tenantOf(t);
    const approvalId = idOf(id);
    const session = await this.signIn.session(tenant, this.secretOf(req, tenant));
    if (!session)
      throw new DomainError('forbidden', 'You are not signed in, or your session has ended. Open the approval link again to sign in.');
    checkForm(req, this.origin, this.secretOf(req, tenant), session.id);
    const approved = answer === 'approve';
    await this.decisions.answer(tenant, approvalId, approver(session), approved);
    const [title, message] = approved
      ? ['Approved', 'The agent may now go ahead. The approval lasts a limited time; you can see its use under Recent activity.']
      : ['Denied', 'The agent was told no. Nothing was released.'];
    sendPage(reply, 200, title, messagePage(title, message, [{ href: `${base}/account`, label: 'Your account' }]));
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
}

function approver(s: UserSession): Approver {
  return { subject: s.subject, signIn: 'oidc_session' };
}

function idOf(id: string): string {
  if (!ID.test(id)) throw new DomainError('not_found', 'There is no such approval request.');
  return id;
}
