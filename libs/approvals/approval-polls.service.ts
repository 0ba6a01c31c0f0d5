import { Injectable } from '@nestjs/common';
import { TenantId } from '../kernel';
import { inputsForAudit, PolicyDecisionPoint, PolicyMatch } from '../policy';
import { Approval, ApprovalStore } from './approval.store';

/** Where a request stands when the agent polls (CIBA Core 1.0 §11 names the refusals). */
export type PollOutcome =
  | { state: 'unknown' }
  | { state: 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token'; approval: Approval }
  | { state: 'used'; approval: Approval }
  | { state: 'approved'; approval: Approval; grant: ApprovedGrant };

/** What policy lets the token hold now (it may have changed since the user approved). */
export interface ApprovedGrant {
  granted: string[];
  refused: Record<string, string>;
  policies: string[];
  maxTtlSeconds: number | null;
  /** The allow policies behind granted scopes that require a DPoP-bound token (`require_dpop`). */
  dpopRequiredBy: string[];
  matched: ReturnType<typeof inputsForAudit>;
}

/**
 * The agent's side of an approval: who may poll it (`owner`), and one poll. An approved request is
 * decided by policy again before a token is issued, and used once (`markIssued`).
 */
@Injectable()
export class ApprovalPolls {
  constructor(
    private readonly store: ApprovalStore,
    private readonly decisions: PolicyDecisionPoint,
  ) {}

  owner(authReqId: string): Promise<{ tenant: TenantId; agent: string } | undefined> {
    return this.store.peek(authReqId);
  }

  async poll(authReqId: string): Promise<PollOutcome> {
    const p = await this.store.poll(authReqId);
    if (!p) return { state: 'unknown' };
    const a = p.approval;
    if (a.status === 'issued') return { state: 'used', approval: a };
    if (a.status === 'denied') return { state: 'access_denied', approval: a };
    if (p.expired) return { state: 'expired_token', approval: a };
    if (a.status === 'pending') return { state: p.tooFast ? 'slow_down' : 'authorization_pending', approval: a };
    return { state: 'approved', approval: a, grant: await this.decide(a) };
  }

  /** Records the token issued from the approval; false when it was used or ran out meanwhile. */
  markIssued(a: Approval, jti: string): Promise<boolean> {
    return this.store.markIssued(a.id, jti);
  }

  private async decide(a: Approval): Promise<ApprovedGrant> {
    // A resource's scopes are decided again by its scope→role map when the token service issues the token.
    if (a.resource !== null)
      return { granted: a.scopes, refused: {}, policies: [], maxTtlSeconds: null, dpopRequiredBy: [], matched: inputsForAudit([]) };
    const granted: string[] = [];
    const refused: Record<string, string> = {};
    const policies = new Set<string>();
    const ttls: number[] = [];
    const dpop = new Set<string>();
    const matched: PolicyMatch[] = [];
    for (const scope of a.scopes) {
      const integration = scope.slice('connections:'.length);
      const d = await this.decisions.decide(a.tenant, { agent: a.agent, integration, subject: a.subject, claims: a.claims });
      matched.push(...d.inputs.matched);
      if (!d.allowed) {
        refused[scope] = d.reason;
        continue;
      }
      granted.push(scope);
      d.policies.forEach((x) => policies.add(x));
      d.dpopRequiredBy?.forEach((x) => dpop.add(x));
      if (d.maxTtlSeconds !== null) ttls.push(d.maxTtlSeconds);
    }
    return {
      granted,
      refused,
      policies: [...policies],
      maxTtlSeconds: ttls.length ? Math.min(...ttls) : null,
      dpopRequiredBy: [...dpop],
      matched: inputsForAudit(matched),
    };
  }
}
