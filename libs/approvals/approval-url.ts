import { VaultConfig } from '../config';
import { TenantId } from '../kernel';

/** The approval page of a request: `/account/approvals/{id}`, under `/t/{tenant}` for a tenant other than the default one. */
export function approvalUrl(config: Pick<VaultConfig, 'publicUrl' | 'users'>, tenant: TenantId, id: string): string {
  const prefix = tenant === config.users.defaultTenant ? '' : `/t/${encodeURIComponent(tenant)}`;
  return `${config.publicUrl}${prefix}/account/approvals/${id}`;
}
