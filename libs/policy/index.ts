export { DEFAULT_APPROVAL_TTL_SECONDS, evaluatePolicies, inputsForAudit, rolesFromClaims, scopeReach } from './policy.evaluator';
export type {
  Policy,
  PolicyRequest,
  PolicyDecision,
  PolicyMatch,
  DecisionInputs,
  ScopeReach,
  ApprovalRequirement,
} from './policy.evaluator';
export { PolicyDecisionPoint } from './policy-decision-point';
export type { DecisionQuery } from './policy-decision-point';
export type { AgentReach } from './agent-reach';
export { PolicyStore } from './policy.store';
export { AgentStore } from './agent.store';
export type { Agent, AgentAuthMethod, FederatedCredential } from './agent.store';
export { credentialMatches } from './agent-identity';
export { PolicyModule } from './policy.module';
// Tests build the stores by hand over a real feed (PolicySnapshots needs one).
export { PolicyChangeFeed } from './policy-change.feed';
export { PolicyAdminService } from './policy-admin.service';
export type { PolicyInput } from './policy-admin.service';
export { AgentAdminService } from './agent-admin.service';
export type { AgentInput } from './agent-admin.service';
export { UserGrantSwitches } from './user-grant-switches';
