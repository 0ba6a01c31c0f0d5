import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { AgentAdminService } from './agent-admin.service';
import { PolicyAdminService } from './policy-admin.service';
import { AgentStore } from './agent.store';
import { PolicyChangeFeed } from './policy-change.feed';
import { PolicySnapshots } from './policy-snapshots';
import { PolicyDecisionPoint } from './policy-decision-point';
import { PolicyStore } from './policy.store';
import { UserAgentDenyStore } from './user-agent-deny.store';
import { UserGrantSwitches } from './user-grant-switches';

/** Agents, policies and the decision; the admin services audit through the app's AuditLog. */
@Module({
  imports: [AuditModule],
  providers: [
    PolicyChangeFeed,
    PolicySnapshots,
    PolicyStore,
    AgentStore,
    PolicyDecisionPoint,
    PolicyAdminService,
    AgentAdminService,
    UserAgentDenyStore,
    UserGrantSwitches,
  ],
  exports: [PolicyStore, AgentStore, PolicyChangeFeed, PolicyDecisionPoint, PolicyAdminService, AgentAdminService, UserGrantSwitches],
})
export class PolicyModule {}
