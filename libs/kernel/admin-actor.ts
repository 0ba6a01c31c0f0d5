import { TenantId } from './tenant';

/** Who performs an admin use case: an admin of `tenant` (from a verified token); `subject` goes into the audit record as `by`. */
export interface AdminActor {
  tenant: TenantId;
  subject: string;
}
