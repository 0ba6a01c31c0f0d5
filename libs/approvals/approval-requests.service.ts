import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { TenantId } from '../kernel';
import { DEFAULT_APPROVAL_TTL_SECONDS, PolicyDecisionPoint } from '../policy';
import { APPROVAL_REQUESTED_EVENT, WebhookOutbox } from '../webhooks';
import { ApprovalMailer } from './approval-mailer';
import { approvalUrl } from './approval-url';
import { ApprovalStore } from './approval.store';

/** What the agent asks for, its client and the user already verified by the token service. */
export interface ApprovalAsk {
  tenant: TenantId;
  agent: string;
  /** How the agent authenticated (for the audit). */
  clientAuth: string;
  subject: string;
  /** The user's token's claims: roles and groups decide policy; `email` addresses the mail. */
  claims: Record<string, unknown>;
  /** The integrations of the `connections:<integration>` scopes, in order (empty when `resource` is set). */
  integrations: string[];
  /**
   * Scopes of one of the tenant's resources (RFC 8707) instead: the token service has already
   * checked them against the resource's scope→role map (its policy, not the connection policies).
   */
  resource?: { identifier: string; title: string; scopes: string[] };
  bindingMessage: string | null;
  authorizationDetails: unknown[] | null;
  requestedExpiry?: number;
}

export type ApprovalAskResult =
  | { ok: true; id: string; authReqId: string; expiresIn: number; interval: number }
  | { ok: false; error: 'invalid_scope'; description: string; refused: Record<string, string> }
  | { ok: false; error: 'rate_limited'; description: string };

/** Unanswered requests one agent may have open for one user (each one tells the user). */
export const MAX_PENDING_PER_USER = 5;

/** How often the agent may poll at first (CIBA §7.3 default), in seconds. */
export const POLL_INTERVAL_SECONDS = 5;
const APPROVAL_REQUEST = 'approval.request';

/**
 * `POST /oauth2/bc-authorize` after client authentication (CIBA Core 1.0 §7): the scopes must be ones
 * policy could let this agent have for this user; the request is audited, stored with its
 * `approval.requested` webhook in one transaction, and mailed to the user when SMTP is configured.
 */
@Injectable()
export class ApprovalRequests {
  private readonly log = new Logger('approvals');

  constructor(
    private readonly ds: DataSource,
    private readonly store: ApprovalStore,
    private readonly decisions: PolicyDecisionPoint,
    private readonly audit: AuditLog,
    private readonly outbox: WebhookOutbox,
    private readonly mailer: ApprovalMailer,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'publicUrl' | 'users'>,
  ) {}

  async ask(a: ApprovalAsk): Promise<ApprovalAskResult> {
    const refused: Record<string, string> = {};
    const ttls: number[] = [];
    const policies = new Set<string>();
    for (const integration of a.integrations) {
      const d = await this.decisions.decide(a.tenant, { agent: a.agent, integration, subject: a.subject, claims: a.claims });
      if (!d.allowed) refused[`connections:${integration}`] = d.reason;
      else {
        if (d.approval) ttls.push(d.approval.ttlSeconds);
        d.policies.forEach((p) => policies.add(p));
      }
    }
    const base = { tenant: a.tenant, action: APPROVAL_REQUEST, agent: a.agent, subject: a.subject, ...oneIntegration(a.integrations) };
    const facts = {
      scopes: a.resource ? a.resource.scopes : a.integrations.map((i) => `connections:${i}`),
      ...(a.resource ? { resource: a.resource.identifier } : {}),
      client_auth: a.clientAuth,
    };
    if (Object.keys(refused).length) {
      // All or nothing: the user approves exactly what the agent will get.
      await this.audit.record({ ...base, outcome: 'denied', reason: 'invalid_scope', details: { ...facts, refused } });
      return { ok: false, error: 'invalid_scope', description: 'no policy lets this agent have these scopes for this user', refused };
    }
    if ((await this.store.pendingCount(a.tenant, a.agent, a.subject)) >= MAX_PENDING_PER_USER) {
      await this.audit.record({ ...base, outcome: 'denied', reason: 'rate_limited', details: { ...facts, pending: MAX_PENDING_PER_USER } });
      return {
        ok: false,
        error: 'rate_limited',
        description: `this agent already has ${MAX_PENDING_PER_USER} unanswered requests for this user; wait for an answer`,
      };
    }
    // The strictest requiring policy sets how long the approval lasts; the agent may ask for a shorter wait.
    const ttl = ttls.length ? Math.min(...ttls) : DEFAULT_APPROVAL_TTL_SECONDS;
    const expiresIn = Math.min(ttl, a.requestedExpiry ?? ttl);

    let created: { id: string; authReqId: string } | undefined;
    await this.ds.transaction(async (m) => {
      created = await this.store.create(m, {
        tenant: a.tenant,
        agent: a.agent,
        subject: a.subject,
        claims: policyClaims(a.claims),
        scopes: facts.scopes,
        resource: a.resource?.identifier ?? null,
        bindingMessage: a.bindingMessage,
        authorizationDetails: a.authorizationDetails,
        ttlSeconds: ttl,
        expiresInSeconds: expiresIn,
        intervalSeconds: POLL_INTERVAL_SECONDS,
      });
      // Durable before the agent hears of it, and before the user is told.
      await this.audit.record({
        ...base,
        outcome: 'allowed',
        details: {
          ...facts,
          approval: created.id,
          policies: [...policies],
          binding_message: a.bindingMessage,
          details_types: detailTypes(a.authorizationDetails),
          expires_in: expiresIn,
          approval_ttl_seconds: ttl,
        },
      });
      await this.outbox.enqueue(m, {
        tenant: a.tenant,
        type: APPROVAL_REQUESTED_EVENT,
        data: {
          approval_id: created.id,
          user: a.subject,
          agent: a.agent,
          integrations: a.integrations.join(' '),
          ...(a.resource ? { resource: a.resource.identifier, scopes: a.resource.scopes.join(' ') } : {}),
          binding_message: a.bindingMessage,
          approval_url: approvalUrl(this.config, a.tenant, created.id),
          expires_at: new Date(Date.now() + expiresIn * 1000).toISOString(),
        },
      });
    });
    const { id, authReqId } = created!;
    // The mail is a courtesy beside the webhook: the agent is not kept waiting for it, and a failure is logged, not answered.
    void this.mailer
      .send({
        tenant: a.tenant,
        id,
        subject: a.subject,
        email: emailOf(a.claims),
        agent: a.agent,
        integrations: a.integrations,
        ...(a.resource ? { resourceTitle: a.resource.title } : {}),
        bindingMessage: a.bindingMessage,
      })
      .catch((err: unknown) => this.log.warn(`approval mail not sent (${err instanceof Error ? err.name : 'error'})`));
    return { ok: true, id, authReqId, expiresIn, interval: POLL_INTERVAL_SECONDS };
  }
}

function oneIntegration(integrations: string[]): { integration?: string } {
  return integrations.length === 1 ? { integration: integrations[0] } : {};
}

/** Only what policy reads (roles, groups) is kept with the request. */
function policyClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['roles', 'groups']) if (claims[k] !== undefined) out[k] = claims[k];
  return out;
}

function emailOf(claims: Record<string, unknown>): string | undefined {
  const e = claims.email;
  return typeof e === 'string' && /^[^\s@<>]{1,64}@[^\s@<>]{1,255}$/.test(e) ? e : undefined;
}

/** The RFC 9396 `type`s, for the audit (the details themselves are shown to the user, not logged). */
function detailTypes(details: unknown[] | null): string[] {
  return (details ?? []).map((d) => String((d as { type?: unknown }).type).slice(0, 64));
}
