import { Module } from '@nestjs/common';
import { AgentStore } from './agent.store';
import { PolicyChangeFeed } from './policy-change.feed';
import { PolicySnapshots } from './policy-snapshots';
import { PolicyDecisionPoint } from './policy-decision-point';
import { PolicyStore } from './policy.store';

@Module({ providers: [PolicyChangeFeed, PolicySnapshots, PolicyStore, AgentStore, PolicyDecisionPoint],
  exports: [PolicyStore, AgentStore, PolicyChangeFeed, PolicyDecisionPoint], })
export class PolicyModule {}
