import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { ConnectionsModule } from '../connections';
import { PolicyModule } from '../policy';
import { ResourcesModule } from '../resources';
import { UsersModule } from '../users';
import { ApprovalDecisions } from './approval-decisions.service';
import { ApprovalMailer } from './approval-mailer';
import { ApprovalPolls } from './approval-polls.service';
import { ApprovalRequests } from './approval-requests.service';
import { ApprovalStore } from './approval.store';

/** CIBA approvals (issue 17 §3). Needs, from the app: `VAULT_CONFIG`, the `DataSource`, what AuditModule needs, and the global WebhooksModule (its outbox). */
@Module({
  imports: [AuditModule, PolicyModule, ConnectionsModule, UsersModule, ResourcesModule],
  providers: [ApprovalStore, ApprovalRequests, ApprovalDecisions, ApprovalPolls, ApprovalMailer],
  exports: [ApprovalRequests, ApprovalDecisions, ApprovalPolls],
})
export class ApprovalsModule {}
