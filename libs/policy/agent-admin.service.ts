import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { AdminActor, DomainError, Secret } from '../kernel';
import { Agent, AgentAuthMethod, AgentStore } from './agent.store';
import { checkIdentityFields } from './agent-identity';

export interface AgentInput {
  name: string;
  /** Omitted: a new agent gets `none`, an existing one keeps its method and credentials (only the name changes). */
  auth_method?: AgentAuthMethod;
  jwks?: { keys: unknown[] };
  /** Replaces the list when given (`[]` clears it); omitted: kept. Only for `auth_method: "none"`. */
  federated_credentials?: unknown[];
  /** Replaces the list when given; omitted: kept. */
  accepted_audiences?: unknown[];
  /** Omitted: kept (a new agent is enabled). */
  disabled?: boolean;
  /** Omitted: a new agent is not DPoP-bound, an existing one keeps its setting. */
  dpop_bound?: boolean;
}

/** How long a rotated-out client secret keeps working unless the admin says otherwise. */
export const DEFAULT_SECRET_OVERLAP_SECONDS = 3600;

/** The admin use cases on a tenant's agents (CONTRACT.md `/v1/admin/agents`), each audited; secrets leave only in the result, once. */
@Injectable()
export class AgentAdminService {
  constructor(
    private readonly agents: AgentStore,
    private readonly audit: AuditLog,
  ) {}

  async put(
    actor: AdminActor,
    clientId: string,
    input: AgentInput,
  ): Promise<{ created: boolean; authMethod: AgentAuthMethod; agent: Agent; clientSecret?: Secret }> {
    if (input.auth_method === 'private_key_jwt' && !Array.isArray(input.jwks?.keys)) {
      throw new DomainError('validation_failed', 'private_key_jwt needs jwks with keys', {
        extra: { errors: [{ field: 'jwks', message: 'must be {"keys":[...]}' }] },
      });
    }
    if (input.auth_method === undefined && input.jwks !== undefined) {
      // Replacing keys is a credential change: it says which method the keys are for.
      throw new DomainError('validation_failed', 'jwks needs auth_method', {
        extra: { errors: [{ field: 'auth_method', message: 'required with jwks ("private_key_jwt")' }] },
      });
    }
    const identity = checkIdentityFields(input);
    if (identity.federated_credentials?.length) await this.requireMethodNone(actor, clientId, input.auth_method);
    // Audited before it takes effect (fail closed); key ids only, never key material or secrets.
    const kids = Array.isArray(input.jwks?.keys)
      ? (input.jwks.keys as Array<{ kid?: unknown }>).map((k) => (typeof k?.kid === 'string' ? k.kid : null))
      : undefined;
    const audited = input.auth_method ?? 'unchanged';
    await this.audit.record({
      tenant: actor.tenant,
      action: 'agent.put',
      outcome: 'allowed',
      agent: clientId,
      details: {
        by: actor.subject,
        auth_method: audited,
        ...(kids ? { jwks_kids: kids } : {}),
        // Issuers and subjects identify workloads; they are not secrets.
        ...(identity.federated_credentials
          ? { federated_credentials: identity.federated_credentials.map((c) => ({ issuer: c.issuer, subject: c.subject })) }
          : {}),
        ...(identity.accepted_audiences ? { accepted_audiences: identity.accepted_audiences } : {}),
        ...(input.disabled !== undefined ? { disabled: input.disabled } : {}),
        ...(input.dpop_bound !== undefined ? { dpop_bound: input.dpop_bound } : {}),
      },
    });
    return this.agents.put(actor.tenant, {
      client_id: clientId,
      name: input.name,
      auth_method: input.auth_method,
      jwks: input.jwks ?? null,
      ...identity,
      ...(input.disabled !== undefined ? { disabled: input.disabled } : {}),
      dpop_bound: input.dpop_bound,
    });
  }

  /** Federated credentials stand in for a secret: they belong to agents registered with `none`. */
  private async requireMethodNone(actor: AdminActor, clientId: string, method: AgentAuthMethod | undefined): Promise<void> {
    const effective = method ?? (await this.agents.find(actor.tenant, clientId))?.auth_method ?? 'none';
    if (effective !== 'none') {
      throw new DomainError('validation_failed', 'federated_credentials need auth_method "none"', {
        extra: {
          errors: [{ field: 'federated_credentials', message: `the agent authenticates with ${effective}; set auth_method "none"` }],
        },
      });
    }
  }

  list(actor: AdminActor): Promise<Agent[]> {
    return this.agents.list(actor.tenant);
  }

  async remove(actor: AdminActor, clientId: string): Promise<void> {
    // Takes access away: not held back by an audit outage, audited after (a 503 if that fails).
    if (!(await this.agents.delete(actor.tenant, clientId))) throw new DomainError('not_found', `no agent "${clientId}"`);
    await this.audit.record({
      tenant: actor.tenant,
      action: 'agent.delete',
      outcome: 'allowed',
      agent: clientId,
      details: { by: actor.subject },
    });
  }

  /** A new client secret, shown once; the previous one keeps working for `overlapSeconds` so the agent can be redeployed without downtime. */
  async rotateSecret(
    actor: AdminActor,
    clientId: string,
    overlapSeconds = DEFAULT_SECRET_OVERLAP_SECONDS,
  ): Promise<{ clientSecret: Secret; previousExpiresAt: Date | null }> {
    const rotated = await this.agents.rotateSecret(actor.tenant, clientId, overlapSeconds);
    if (!rotated) throw new DomainError('not_found', `no agent "${clientId}" that authenticates with a client secret`);
    await this.audit.record({
      tenant: actor.tenant,
      action: 'agent.rotate',
      outcome: 'allowed',
      agent: clientId,
      details: { by: actor.subject, overlap_seconds: overlapSeconds },
    });
    return rotated;
  }
}
