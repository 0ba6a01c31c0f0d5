import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { AdminActor, DomainError } from '../kernel';
import { Policy } from './policy.evaluator';
import { PolicyStore } from './policy.store';

/** A policy as the admin API takes it: omitted lists and limits mean "none". */
export interface PolicyInput {
  effect: 'allow' | 'deny';
  agents: string[];
  integrations: string[];
  scopes?: string[];
  users?: { roles_any?: string[]; subjects?: string[] };
  max_ttl_seconds?: number;
  require_dpop?: boolean;
  require_approval?: boolean;
  approval_ttl_seconds?: number;
  approvers?: 'user';
}

/** The admin use cases on a tenant's policies (CONTRACT.md `/v1/admin/policies`), each audited. */
@Injectable()
export class PolicyAdminService {
  constructor(
    private readonly policies: PolicyStore,
    private readonly audit: AuditLog,
  ) {}

  async put(actor: AdminActor, name: string, input: PolicyInput): Promise<{ policy: Policy; created: boolean }> {
    if (input.require_dpop && input.effect !== 'allow')
      throw new DomainError('validation_failed', 'require_dpop applies to allow policies only', {
        extra: { errors: [{ field: 'require_dpop', message: 'applies to allow policies only' }] },
      });
    checkApprovalFields(input);
    const roles = input.users?.roles_any ?? [];
    const subjects = input.users?.subjects ?? [];
    const policy: Policy = {
      name,
      effect: input.effect,
      agents: input.agents,
      integrations: input.integrations,
      scopes: input.scopes ?? [],
      users: { roles_any: roles, subjects },
      max_ttl_seconds: input.max_ttl_seconds ?? null,
      ...(input.require_dpop ? { require_dpop: true } : {}),
      ...(input.require_approval
        ? { require_approval: true, approval_ttl_seconds: input.approval_ttl_seconds ?? null, approvers: input.approvers ?? 'user' }
        : {}),
    };
    // Audited before it takes effect: with the audit log down no grant changes (fail closed). User
    // subjects named by the policy are counted, not copied into the log.
    await this.audit.record({
      tenant: actor.tenant,
      action: 'policy.put',
      outcome: 'allowed',
      details: {
        policy: name,
        by: actor.subject,
        effect: policy.effect,
        agents: policy.agents,
        integrations: policy.integrations,
        scopes: policy.scopes,
        roles_any: roles,
        subjects: subjects.length,
        max_ttl_seconds: policy.max_ttl_seconds,
        ...(policy.require_dpop ? { require_dpop: true } : {}),
        ...(policy.require_approval
          ? { require_approval: true, approval_ttl_seconds: policy.approval_ttl_seconds, approvers: policy.approvers }
          : {}),
      },
    });
    const r = await this.policies.put(actor.tenant, policy);
    return { policy, created: r.created };
  }

  list(actor: AdminActor): Promise<Policy[]> {
    return this.policies.list(actor.tenant);
  }

  async remove(actor: AdminActor, name: string): Promise<void> {
    // A removal only takes access away, so it is not held back by an audit outage: audited after (a 503 if that fails).
    if (!(await this.policies.delete(actor.tenant, name))) throw new DomainError('not_found', `no policy "${name}"`);
    await this.audit.record({
      tenant: actor.tenant,
      action: 'policy.delete',
      outcome: 'allowed',
      details: { policy: name, by: actor.subject },
    });
  }
}

/** The approval fields only mean something on an allow that requires approval: anything else is a mistake worth naming. */
function checkApprovalFields(input: PolicyInput): void {
  const fail = (field: string, message: string) => {
    throw new DomainError('validation_failed', `${field} ${message}`, { extra: { errors: [{ field, message }] } });
  };
  if (input.require_approval && input.effect !== 'allow') fail('require_approval', 'applies to allow policies only');
  if (!input.require_approval) {
    if (input.approval_ttl_seconds !== undefined) fail('approval_ttl_seconds', 'needs require_approval: true');
    if (input.approvers !== undefined) fail('approvers', 'needs require_approval: true');
  }
}
