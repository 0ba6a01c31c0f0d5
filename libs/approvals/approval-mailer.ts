import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { createTransport, Transporter } from 'nodemailer';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { IntegrationStore } from '../connections';
import { TenantId } from '../kernel';
import { AgentStore } from '../policy';
import { UserSignIn } from '../users';
import { approvalUrl } from './approval-url';

export interface ApprovalMail {
  tenant: TenantId;
  id: string;
  subject: string;
  /** From the user's token; else the address of their latest sign-in. */
  email?: string;
  agent: string;
  integrations: string[];
  /** The display name of the resource whose scopes are asked for (instead of integrations). */
  resourceTitle?: string;
  bindingMessage: string | null;
}

/** Bounded so that an unreachable SMTP server never piles up connections. */
const SMTP_TIMEOUT_MS = 10_000;

/**
 * Tells the user by e-mail that an agent asks for their approval (when `SMTP_URL` and `SMTP_FROM`
 * are set; otherwise the `approval.requested` webhook is the only channel). The mail holds the page's
 * link and what the agent asks, never a token: the page itself needs the user to be signed in.
 */
@Injectable()
export class ApprovalMailer implements OnModuleDestroy {
  private transport?: Transporter;
  /** Mails on their way: sent after the request answered, so no drained request holds shutdown for them. */
  private readonly sending = new Set<Promise<boolean>>();

  constructor(
    private readonly agents: AgentStore,
    private readonly users: UserSignIn,
    private readonly integrationStore: IntegrationStore,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'publicUrl' | 'users' | 'mail'>,
  ) {}

  /** Whether mail is configured at all. */
  get enabled(): boolean {
    return this.config.mail !== undefined;
  }

  /** Sends the mail; resolves false when there is no SMTP configuration or no address for the user. */
  send(m: ApprovalMail): Promise<boolean> {
    const sending = this.deliver(m).finally(() => this.sending.delete(sending));
    this.sending.add(sending);
    return sending;
  }

  private async deliver(m: ApprovalMail): Promise<boolean> {
    const mail = this.config.mail;
    if (!mail) return false;
    const to = m.email ?? (await this.users.lastEmail(m.tenant, m.subject));
    if (!to) return false;
    const agent = oneLine((await this.agents.find(m.tenant, m.agent))?.name ?? m.agent);
    const titles =
      m.resourceTitle !== undefined
        ? oneLine(m.resourceTitle)
        : (await Promise.all(m.integrations.map((i) => this.title(m.tenant, i)))).join(', ');
    const url = approvalUrl(this.config, m.tenant, m.id);
    this.transport ??= createTransport({
      url: mail.smtpUrl,
      connectionTimeout: SMTP_TIMEOUT_MS,
      greetingTimeout: SMTP_TIMEOUT_MS,
      socketTimeout: SMTP_TIMEOUT_MS,
    });
    await this.transport.sendMail({
      from: mail.from,
      to,
      subject: `Approve: ${agent} asks to use ${titles}`,
      text: [
        `${agent} asks to use your ${titles} account on your behalf.`,
        ...(m.bindingMessage ? ['', `Its message: "${m.bindingMessage}". Check it matches what the app shows you.`] : []),
        '',
        `Review the request and approve or deny it (you will be asked to sign in):`,
        url,
        '',
        'If you did not expect this, deny it. The request expires on its own if you do nothing.',
      ].join('\n'),
    });
    return true;
  }

  /**
   * Shutdown (after the HTTP requests drained, before the pool closes): the mails on their way are
   * delivered first (bounded by the SMTP timeouts); main.ts exits the process once the vault closed.
   */
  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled([...this.sending]);
    this.transport?.close();
  }

  private async title(tenant: TenantId, name: string): Promise<string> {
    const i = await this.integrationStore.get(tenant, name);
    return oneLine(i && typeof i.config.display_name === 'string' ? i.config.display_name : name);
  }
}

/** A header value on one line (an agent's display name is admin input, but a header must not be split). */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 100);
}
