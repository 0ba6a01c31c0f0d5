import { Module } from '@nestjs/common';
import { AgentStore } from './agent.store';
import { PolicyStore } from './policy.store';

@Module({ providers: [PolicyStore, AgentStore], exports: [PolicyStore, AgentStore] })
export class PolicyModule {}
