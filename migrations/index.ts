import { Initial1763800000000 } from './1763800000000-Initial';
import { KeyRotation1763800000100 } from './1763800000100-KeyRotation';
import { TokenService1763800000200 } from './1763800000200-TokenService';
import { Connect1763800000300 } from './1763800000300-Connect';
import { ConnectHardening1763800000400 } from './1763800000400-ConnectHardening';
import { RefreshWorker1763800000500 } from './1763800000500-RefreshWorker';
import { Webhooks1763800000600 } from './1763800000600-Webhooks';
import { PolicyNotify1763800000700 } from './1763800000700-PolicyNotify';
import { AadScheme1763800000900 } from './1763800000900-AadScheme';
import { DerivedTokens1763800001000 } from './1763800001000-DerivedTokens';
import { AuditAnchors1763800001100 } from './1763800001100-AuditAnchors';
import { AuditRetention1763800001101 } from './1763800001101-AuditRetention';
import { RefreshCallStart1763800001200 } from './1763800001200-RefreshCallStart';
import { TokenIssuedAt1763800001201 } from './1763800001201-TokenIssuedAt';
import { UserLogin1763800001600 } from './1763800001600-UserLogin';
import { Approvals1763800001900 } from './1763800001900-Approvals';
import { TenantProfile1763800002000 } from './1763800002000-TenantProfile';
import { AgentIdentity1763800002100 } from './1763800002100-AgentIdentity';
import { TokenRevocation1763800002200 } from './1763800002200-TokenRevocation';
import { Resources1763800002300 } from './1763800002300-Resources';
import { AuthorizationServer1763800002301 } from './1763800002301-AuthorizationServer';
import { PolicyRequireDpop1763800002600 } from './1763800002600-PolicyRequireDpop';
import { ApprovalResource1763800002700 } from './1763800002700-ApprovalResource';

/** Every migration, in order. New migrations are appended here, one per line. */
export const migrations = [
  Initial1763800000000,
  KeyRotation1763800000100,
  TokenService1763800000200,
  Connect1763800000300,
  ConnectHardening1763800000400,
  RefreshWorker1763800000500,
  Webhooks1763800000600,
  PolicyNotify1763800000700,
  AadScheme1763800000900,
  DerivedTokens1763800001000,
  AuditAnchors1763800001100,
  AuditRetention1763800001101,
  RefreshCallStart1763800001200,
  TokenIssuedAt1763800001201,
  UserLogin1763800001600,
  Approvals1763800001900,
  TenantProfile1763800002000,
  AgentIdentity1763800002100,
  TokenRevocation1763800002200,
  Resources1763800002300,
  AuthorizationServer1763800002301,
  PolicyRequireDpop1763800002600,
  ApprovalResource1763800002700,
];
