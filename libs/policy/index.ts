export { evaluatePolicies, rolesFromClaims, scopeReach } from './policy.evaluator';
export type { Policy, PolicyRequest, PolicyDecision, ScopeReach } from './policy.evaluator';
export { PolicyStore } from './policy.store';
export { AgentStore } from './agent.store';
export type { Agent, AgentAuthMethod } from './agent.store';
export { PolicyModule } from './policy.module';
export { PolicyChangeFeed, POLICY_CHANNEL } from './policy-change.feed';
export type { PolicyChangeListener } from './policy-change.feed';
