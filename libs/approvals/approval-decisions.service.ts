import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { IntegrationStore } from '../connections';
import { DomainError, TenantId } from '../kernel';
import { AgentStore } from '../policy';
import { ResourceStore } from '../resources';
import { Approval, ApprovalStore } from './approval.store';

/** The person looking at an approval page, as their vault session knows them. */
export interface Approver {
  subject: string;
  /** How they signed in (for the audit): the account pages' OpenID Connect session. */
  signIn: 'oidc_session';
}

/** What the approval page shows. */
export interface ApprovalView {
  id: string;
  status: 'pending' | 'approved' | 'denied' | 'issued' | 'expired';
  agent: { clientId: string; name: string };
  integrations: Array<{ name: string; title: string }>;
  /** Set when the agent asks for scopes of one of the tenant's own APIs: each scope with its admin-written description. */
  resource: { identifier: string; title: string; scopes: Array<{ scope: string; description: string }> } | null;
  bindingMessage: string | null;
  /** RFC 9396 objects, shown as they came (each rendered as its fields). */
  details: Array<Record<string, unknown>>;
  expiresAt: Date;
}

/** One request waiting for the user's answer, as the account page lists it. */
export interface PendingApproval {
  id: string;
  agent: string;
  scopes: string[];
  /** The resource identifier when the scopes are a resource's; null: `connections:` scopes. */
  resource: string | null;
  expiresAt: Date;
}

/**
 * The approval page's use cases (issue 17 §3): only the user the request is about may see or answer
 * it (anyone else gets 403, audited); an answer is given once (a replayed form finds nothing pending).
 */
@Injectable()
export class ApprovalDecisions {
  constructor(
    private readonly store: ApprovalStore,
    private readonly agents: AgentStore,
    private readonly integrations: IntegrationStore,
    private readonly resources: ResourceStore,
    private readonly audit: AuditLog,
  ) {}

  async view(tenant: TenantId, id: string, who: Approver): Promise<ApprovalView> {
    const a = await this.own(tenant, id, who, 'view');
    const [agent, integrations, resource] = await Promise.all([
      this.agents.find(tenant, a.agent),
      Promise.all(
        (a.resource === null ? a.scopes : []).map(async (s) => {
          const name = s.slice('connections:'.length);
          const i = await this.integrations.get(tenant, name);
          const display = i && typeof i.config.display_name === 'string' ? i.config.display_name : name;
          return { name, title: display };
        }),
      ),
      a.resource === null ? undefined : this.resources.byIdentifier(tenant, a.resource),
    ]);
    const expired = a.status === 'pending' ? a.expiresAt <= new Date() : a.status === 'approved' && a.approvedUntil! <= new Date();
    return {
      id: a.id,
      status: expired ? 'expired' : a.status,
      agent: { clientId: a.agent, name: agent?.name ?? a.agent },
      integrations,
      resource:
        a.resource === null
          ? null
          : {
              identifier: a.resource,
              // A resource deleted meanwhile still shows what was asked (its token would be refused).
              title: resource?.display_name ?? a.resource,
              scopes: a.scopes.map((scope) => ({ scope, description: resource?.scopes[scope]?.description ?? '' })),
            },
      bindingMessage: a.bindingMessage,
      details: (a.authorizationDetails ?? []).filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null),
      expiresAt: a.expiresAt,
    };
  }

  /** The user's requests waiting for an answer (the account page links each one's page). */
  async pending(tenant: TenantId, subject: string): Promise<PendingApproval[]> {
    const rows = await this.store.pendingFor(tenant, subject);
    const names = new Map((await this.agents.list(tenant)).map((a) => [a.client_id, a.name]));
    return rows.map((a) => ({
      id: a.id,
      agent: names.get(a.agent) ?? a.agent,
      scopes: a.scopes,
      resource: a.resource,
      expiresAt: a.expiresAt,
    }));
  }

  /** Approve or deny, once. A second answer (a replayed form, another tab) is a 409 that changes nothing. */
  async answer(tenant: TenantId, id: string, who: Approver, approve: boolean): Promise<Approval> {
    const a = await this.own(tenant, id, who, approve ? 'approve' : 'deny');
    const action = approve ? 'approval.approve' : 'approval.deny';
    const base = {
      tenant,
      action,
      agent: a.agent,
      subject: a.subject,
      ...(a.scopes.length === 1 && a.resource === null ? { integration: a.scopes[0].slice('connections:'.length) } : {}),
    };
    const facts = {
      approval: a.id,
      approver: who.subject,
      sign_in: who.signIn,
      scopes: a.scopes,
      ...(a.resource !== null ? { resource: a.resource } : {}),
    };
    const decided = await this.store.decide(tenant, id, approve, who.subject);
    if (!decided) {
      await this.audit.record({ ...base, outcome: 'denied', reason: 'conflict', details: { ...facts, status: a.status } });
      throw new DomainError('conflict', 'This request was already answered, or it has expired. Nothing was changed.');
    }
    await this.audit.record({
      ...base,
      outcome: 'allowed',
      details: { ...facts, ...(decided.approvedUntil ? { approved_until: decided.approvedUntil.toISOString() } : {}) },
    });
    return decided;
  }

  /** The request, if `who` is the user it is about; anyone else is refused (audited), and an unknown id is a 404. */
  private async own(tenant: TenantId, id: string, who: Approver, attempt: string): Promise<Approval> {
    const a = await this.store.get(tenant, id);
    if (!a) throw new DomainError('not_found', 'There is no such approval request.');
    if (a.subject !== who.subject) {
      await this.audit.record({
        tenant,
        action: 'approval.view',
        outcome: 'denied',
        reason: 'forbidden',
        agent: a.agent,
        subject: who.subject,
        details: { approval: a.id, attempt, sign_in: who.signIn },
      });
      throw new DomainError('forbidden', 'This approval request is for another person. Nothing was changed.');
    }
    return a;
  }
}
