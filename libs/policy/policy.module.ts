import { Module } from '@nestjs/common';
import { AgentStore } from './agent.store';
import { PolicyChangeFeed } from './policy-change.feed';
import { PolicySnapshots } from './policy-snapshots';
import { PolicyStore } from './policy.store';

@Module({ providers: [PolicyChangeFeed, PolicySnapshots, PolicyStore, AgentStore], exports: [PolicyStore, AgentStore, PolicyChangeFeed] })
export class PolicyModule {}
